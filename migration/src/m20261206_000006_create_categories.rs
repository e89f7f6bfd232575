//! `categories`, the second resource (`/categories/`), and `items.category_id`, the column
//! Item's relation to it will use.
//!
//! - Category names are unique case-insensitively: a unique index on `lower(name)`, so two
//!   concurrent writes of `Tools` and `TOOLS` cannot both succeed (the API answers the loser
//!   with a 400 on `name`). Its name contains `name`: the API finds the field a violation is
//!   about in the index's name. SQLite's `lower` folds ASCII letters only; PostgreSQL's
//!   folds every letter its collation knows.
//! - `(name, id)` serves lists ordered by name (first page and cursor pages) at any size.
//! - `items.category_id` is nullable and references `categories(id)` with `ON DELETE
//!   RESTRICT`: no write, however concurrent, can leave an item pointing at a missing
//!   category (SQLite enforces it because the service turns `foreign_keys` on for every
//!   connection). `(category_id, id)` serves the lookups of a category's items.
//!
//! SQLite cannot add a foreign key to an existing table through sea-query, but its own
//! `ALTER TABLE ... ADD COLUMN ... REFERENCES` can, for a nullable column; it cannot drop that
//! column, so `down` rebuilds `items` without it (create, copy, drop, rename, indexes again),
//! as SQLite's documentation prescribes. The migration runs in one transaction on both
//! databases: `down` and `up` keep every item.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Case-insensitive uniqueness of names.
const NAME_UNIQUE: &str = "idx_categories_name_lower";
const NAME_ID: &str = "idx_categories_name_id";
const CATEGORY_FK: &str = "fk_items_category_id";
const ITEMS_CATEGORY_ID: &str = "idx_items_category_id_id";
/// The indexes `items` has below this migration (`item_list_indexes`), which the SQLite
/// rebuild in `down` recreates.
const ITEM_INDEXES: [(&str, Items); 4] = [
    ("idx_items_name_id", Items::Name),
    ("idx_items_price_id", Items::Price),
    ("idx_items_created_at_id", Items::CreatedAt),
    ("idx_items_updated_at_id", Items::UpdatedAt),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The SQLite rebuild must not stop half-way.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(big_integer(Categories::Id).auto_increment().primary_key())
                    .col(string_len(Categories::Name, 100))
                    .col(string_len(Categories::Description, 1000).default(""))
                    .col(timestamp_with_time_zone(Categories::CreatedAt))
                    .col(timestamp_with_time_zone(Categories::UpdatedAt))
                    .col(big_integer(Categories::Version).default(1))
                    .to_owned(),
            )
            .await?;
        // sea-query writes no expression index for SQLite; this statement means the same on
        // both databases.
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            r#"CREATE UNIQUE INDEX "{NAME_UNIQUE}" ON "categories" (lower("name"))"#
        ))
        .await?;
        manager
            .create_index(
                Index::create()
                    .name(NAME_ID)
                    .table(Categories::Table)
                    .col(Categories::Name)
                    .col(Categories::Id)
                    .to_owned(),
            )
            .await?;

        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared(
                    r#"ALTER TABLE "items" ADD COLUMN "category_id" integer NULL REFERENCES "categories" ("id") ON DELETE RESTRICT"#,
                )
                .await?;
            }
            _ => {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Items::Table)
                            .add_column(big_integer_null(Items::CategoryId))
                            .add_foreign_key(
                                TableForeignKey::new()
                                    .name(CATEGORY_FK)
                                    .from_tbl(Items::Table)
                                    .from_col(Items::CategoryId)
                                    .to_tbl(Categories::Table)
                                    .to_col(Categories::Id)
                                    .on_delete(ForeignKeyAction::Restrict),
                            )
                            .to_owned(),
                    )
                    .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name(ITEMS_CATEGORY_ID)
                    .table(Items::Table)
                    .col(Items::CategoryId)
                    .col(Items::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(ITEMS_CATEGORY_ID)
                    .table(Items::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_items_without_category(manager).await?,
            _ => {
                // Dropping the column drops its foreign key too.
                manager
                    .alter_table(
                        Table::alter()
                            .table(Items::Table)
                            .drop_column(Items::CategoryId)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        manager
            .drop_table(Table::drop().table(Categories::Table).to_owned())
            .await
    }
}

/// SQLite's twelve steps, in the migration's transaction: a new `items` as it was before this
/// migration, every row copied, the old table dropped, the new one renamed and its indexes
/// made again. The AUTOINCREMENT counter carries over, so ids of deleted items are not
/// reused.
async fn rebuild_items_without_category(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    manager
        .create_table(
            Table::create()
                .table(ItemsRebuilt::Table)
                .col(big_integer(Items::Id).auto_increment().primary_key())
                .col(string_len(Items::Name, 100))
                .col(text(Items::Description))
                .col(double(Items::Price))
                .col(boolean(Items::InStock).default(true))
                .col(timestamp_with_time_zone(Items::CreatedAt))
                .col(timestamp_with_time_zone(Items::UpdatedAt))
                .col(big_integer(Items::Version).default(1))
                .to_owned(),
        )
        .await?;
    let columns = r#""id", "name", "description", "price", "in_stock", "created_at", "updated_at", "version""#;
    for statement in [
        format!(r#"INSERT INTO "items_rebuilt" ({columns}) SELECT {columns} FROM "items""#),
        r#"DELETE FROM "sqlite_sequence" WHERE "name" = 'items_rebuilt'"#.to_string(),
        r#"INSERT INTO "sqlite_sequence" ("name", "seq") SELECT 'items_rebuilt', "seq" FROM "sqlite_sequence" WHERE "name" = 'items'"#.to_string(),
        r#"DROP TABLE "items""#.to_string(),
        r#"ALTER TABLE "items_rebuilt" RENAME TO "items""#.to_string(),
    ] {
        db.execute_unprepared(&statement).await?;
    }
    for (name, column) in ITEM_INDEXES {
        manager
            .create_index(
                Index::create()
                    .name(name)
                    .table(Items::Table)
                    .col(column)
                    .col(Items::Id)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden, Clone, Copy)]
enum Items {
    Table,
    Id,
    Name,
    Description,
    Price,
    InStock,
    CreatedAt,
    UpdatedAt,
    Version,
    CategoryId,
}

/// The new `items` while SQLite rebuilds it in `down`.
#[derive(DeriveIden)]
enum ItemsRebuilt {
    Table,
}
