//! The `items` table.

use domain::item::Item;
use sea_orm::entity::prelude::*;

use crate::repository::Table;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub price: f64,
    pub in_stock: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Bumped by every write; the ETag.
    pub version: i64,
    /// The item's category (`categories.id`, `ON DELETE RESTRICT`), or none: the relation
    /// `category` (`api::resources::Items`).
    pub category_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Table for Entity {
    type Key = i64;

    fn key(model: &Model) -> i64 {
        model.id
    }

    fn version_column() -> Option<Column> {
        Some(Column::Version)
    }

    fn created_column() -> Option<Column> {
        Some(Column::CreatedAt)
    }

    fn updated_column() -> Option<Column> {
        Some(Column::UpdatedAt)
    }
}

impl From<Model> for Item {
    fn from(m: Model) -> Self {
        Item {
            id: m.id,
            name: m.name,
            description: m.description,
            price: m.price,
            in_stock: m.in_stock,
            category: m.category_id,
            created_at: m.created_at.into(),
            updated_at: m.updated_at.into(),
        }
    }
}
