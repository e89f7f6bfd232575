//! SeaORM entities, one module per table; a resource's table also turns its rows into the
//! domain's representation (`From<Model>`). Writes reach the columns through the
//! repository's `active_model`, from the checked body.

pub mod category;
pub mod idempotency_key;
pub mod item;
pub mod token;
