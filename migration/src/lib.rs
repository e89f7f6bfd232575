//! Schema migrations, applied by the `migration` CLI or by the api at start-up.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_items;
mod m20261129_000002_create_tokens;
mod m20261129_000003_create_idempotency_keys;
mod m20261129_000004_drop_item_ordering_indexes;
mod m20261206_000005_item_list_indexes;
mod m20261206_000006_create_categories;
mod m20261206_000007_partial_category_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_items::Migration),
            Box::new(m20261129_000002_create_tokens::Migration),
            Box::new(m20261129_000003_create_idempotency_keys::Migration),
            Box::new(m20261129_000004_drop_item_ordering_indexes::Migration),
            Box::new(m20261206_000005_item_list_indexes::Migration),
            Box::new(m20261206_000006_create_categories::Migration),
            Box::new(m20261206_000007_partial_category_index::Migration),
        ]
    }
}
