//! SeaORM entities, one module per table, each with its conversions to and from the
//! domain's payload types.

pub mod category;
pub mod idempotency_key;
pub mod item;
pub mod token;
