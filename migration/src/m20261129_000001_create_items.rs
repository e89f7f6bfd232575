use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Items::Table)
                    .if_not_exists()
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
        // Keyset pages ordered by name or price, ties broken by id, walk these indexes.
        for (name, column) in [
            ("idx_items_name_id", Items::Name),
            ("idx_items_price_id", Items::Price),
        ] {
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Items::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
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
}
