//! The `categories` table.

use domain::category::Category;
use sea_orm::entity::prelude::*;

use crate::repository::Table;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "categories")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique case-insensitively: a unique index on `lower(name)` (migration
    /// `create_categories`).
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(1000))")]
    pub description: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Bumped by every write; the ETag.
    pub version: i64,
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

impl From<Model> for Category {
    fn from(m: Model) -> Self {
        Category {
            id: m.id,
            name: m.name,
            description: m.description,
            created_at: m.created_at.into(),
            updated_at: m.updated_at.into(),
        }
    }
}
