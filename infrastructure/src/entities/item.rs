//! The `items` table.

use domain::item::{Item, ItemCreate, ItemPatch};
use sea_orm::ActiveValue::{self, NotSet, Set};
use sea_orm::entity::prelude::*;

use crate::repository::{IntoInsert, IntoUpdate, Table};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub price: f64,
    pub in_stock: bool,
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
}

impl From<Model> for Item {
    fn from(m: Model) -> Self {
        Item {
            id: m.id,
            name: m.name,
            description: m.description,
            price: m.price,
            in_stock: m.in_stock,
            created_at: m.created_at.into(),
            updated_at: m.updated_at.into(),
        }
    }
}

impl IntoInsert<Entity> for ItemCreate {
    fn into_insert(self, now: DateTimeUtc) -> ActiveModel {
        ActiveModel {
            created_at: Set(now),
            version: Set(1),
            ..self.into_update(now)
        }
    }
}

impl IntoUpdate<Entity> for ItemCreate {
    /// A replacement sets every writable column; `created_at` is kept.
    fn into_update(self, now: DateTimeUtc) -> ActiveModel {
        ActiveModel {
            id: NotSet,
            name: Set(self.name),
            description: Set(self.description),
            price: Set(self.price),
            in_stock: Set(self.in_stock),
            created_at: NotSet,
            updated_at: Set(now),
            version: NotSet,
        }
    }
}

impl IntoUpdate<Entity> for ItemPatch {
    fn into_update(self, now: DateTimeUtc) -> ActiveModel {
        ActiveModel {
            id: NotSet,
            name: set(self.name),
            description: set(self.description),
            price: set(self.price),
            in_stock: set(self.in_stock),
            created_at: NotSet,
            updated_at: Set(now),
            version: NotSet,
        }
    }
}

/// `Some` sets the column, `None` leaves it as it is.
fn set<T: Into<sea_orm::Value>>(value: Option<T>) -> ActiveValue<T> {
    value.map_or(NotSet, Set)
}
