//! Drops the `(name, id)` and `(price, id)` indexes the first migration made for keyset pages
//! ordered by name or price. Every insert, and every update that changes a name or a price,
//! maintained them (and such an update could no longer be a heap-only tuple update): 15 to 20%
//! more PostgreSQL work per write, for every deployment, to speed up one ordering on large
//! tables. Ordering by any allowed field still works without them. `down` restores them.
//! (Migration `item_list_indexes` later adds them back, for bounded lists on large tables:
//! docs/operations.md, "Large tables".)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, Items); 2] = [
    ("idx_items_name_id", Items::Name),
    ("idx_items_price_id", Items::Price),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Items::Table)
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Items::Table)
                        .col(column)
                        .col(Items::Id)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Items {
    Table,
    Id,
    Name,
    Price,
}
