//! Indexes that keep every list of `/items/` bounded on large tables: one per ordering field
//! (`name`, `price`, `created_at`, `updated_at`), each with `id`, the tie-breaker of every
//! ordering. With them, the first page in any declared ordering, cursor pages in it, and
//! selective filters on those fields read a page's worth of index entries instead of
//! sorting or scanning the table. They cost every insert four more index entries, and an
//! update can no longer be heap-only (it always changes `updated_at`); bench/README.md
//! reports that write cost side by side. `in_stock` is not an ordering field (a boolean
//! orders little and would need an index of its own).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, Items); 4] = [
    ("idx_items_name_id", Items::Name),
    ("idx_items_price_id", Items::Price),
    ("idx_items_created_at_id", Items::CreatedAt),
    ("idx_items_updated_at_id", Items::UpdatedAt),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
}

#[derive(DeriveIden, Clone, Copy)]
enum Items {
    Table,
    Id,
    Name,
    Price,
    CreatedAt,
    UpdatedAt,
}
