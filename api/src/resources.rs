//! The resources this service serves: each is one [`Resource`](crate::viewset::Resource)
//! implementation, registered here with one line.

mod category;
mod item;

pub use category::Categories;
pub use item::Items;

use crate::viewset::Router;

/// Registers every resource of the service.
pub fn register(router: Router) -> Router {
    router.model::<Items>().model::<Categories>()
}
