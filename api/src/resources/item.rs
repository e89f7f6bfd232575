//! `/items/`: everything comes from the generic viewset; this is only the declaration.

use domain::item::{ITEM_QUERY, Item, ItemCreate, ItemPatch};
use domain::query::QuerySpec;
use infrastructure::entities::item;

use crate::viewset::{Resource, Writable};

pub struct Items;

impl Resource for Items {
    type Entity = item::Entity;
    type Read = Item;
    const NAME: &'static str = "Item";
    const PATH: &'static str = "items";
    const QUERY: &'static QuerySpec = &ITEM_QUERY;
}

impl Writable for Items {
    type Create = ItemCreate;
    type Patch = ItemPatch;
}
