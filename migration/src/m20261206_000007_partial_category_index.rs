//! The index of `items` by category over the rows that have one: `idx_items_category_id_id`
//! gives way to `idx_items_with_category`, `(category_id, id) WHERE category_id IS NOT NULL`.
//! Every lookup through it (a category's items, the `category` and `category__in` filters,
//! the on-delete check) names a category, so the planner uses it as before, and a row
//! without a category (every row the seed apps' clients write) costs it no entry on insert
//! or update. It takes a new name: a pooled SQLite connection that has not seen the old one
//! dropped yet would refuse to create it again. The statement reads the same on PostgreSQL
//! and SQLite; bench/README.md reports the write cost of the indexes side by side.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CATEGORY: &str = "idx_items_category_id_id";
const WITH_CATEGORY: &str = "idx_items_with_category";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {WITH_CATEGORY} ON items (category_id, id) \
                 WHERE category_id IS NOT NULL"
            ))
            .await?;
        drop_index(manager, CATEGORY).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(CATEGORY)
                    .table(Items::Table)
                    .col(Items::CategoryId)
                    .col(Items::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        drop_index(manager, WITH_CATEGORY).await
    }
}

async fn drop_index(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_index(
            Index::drop()
                .name(name)
                .table(Items::Table)
                .if_exists()
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden, Clone, Copy)]
enum Items {
    Table,
    Id,
    CategoryId,
}
