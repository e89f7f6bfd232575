//! `Item`, the showcase resource: the representation clients read, the rules its fields obey
//! beyond its table's, and what its lists can be filtered, searched and ordered by.

use serde::Serialize;

use crate::fields::Fields;
use crate::query::{Filtering, Lookup};
use crate::timestamp::Timestamp;

/// An item for sale: what clients read (the serializer's output). Its fields and their rules
/// are the `items` table's columns with [`rules`] applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price: f64,
    pub in_stock: bool,
    /// The item's category's id, or `null`.
    pub category: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What `Item`'s rules add to its table's columns (which give the types, the read-only
/// `id` and timestamps, and `name`'s 100 characters): DRF's `extra_kwargs`.
pub fn rules(model: Fields) -> Fields {
    model
        .describe("An item for sale.")
        .field("name", |f| f.example("Widget"))
        .field("description", |f| {
            f.allow_blank().max_length(10_000).example("A widget.")
        })
        .field("price", |f| f.minimum(0.0).example(9.99))
        .field("in_stock", |f| f.default(true))
}

/// What `GET /items/` can be filtered, searched and ordered by.
pub const ITEM_FILTERING: Filtering = Filtering {
    filters: &[
        ("id", &[Lookup::Exact, Lookup::In]),
        (
            "name",
            &[Lookup::Exact, Lookup::IContains, Lookup::IStartsWith],
        ),
        (
            "price",
            &[
                Lookup::Exact,
                Lookup::Gt,
                Lookup::Gte,
                Lookup::Lt,
                Lookup::Lte,
            ],
        ),
        ("in_stock", &[Lookup::Exact]),
        (
            "created_at",
            &[Lookup::Gt, Lookup::Gte, Lookup::Lt, Lookup::Lte],
        ),
        (
            "updated_at",
            &[Lookup::Gt, Lookup::Gte, Lookup::Lt, Lookup::Lte],
        ),
    ],
    search: &["name", "description"],
    // Each has an index with `id` (migration `item_list_indexes`), so the first page and
    // cursor pages stay cheap at any table size.
    ordering: &["id", "name", "price", "created_at", "updated_at"],
    default_ordering: &["id"],
};

#[cfg(test)]
impl Item {
    /// The fields as the persistence layer derives them from the `items` table, with the
    /// rules applied (the api crate's tests hold the derivation itself).
    pub fn fields_for_tests() -> Fields {
        use crate::fields::Field;
        use crate::query::FieldKind;
        rules(Fields::new(
            "id",
            vec![
                Field::new("id", FieldKind::Integer).read_only(),
                Field::new("name", FieldKind::Text).max_length(100),
                Field::new("description", FieldKind::Text),
                Field::new("price", FieldKind::Float),
                Field::new("in_stock", FieldKind::Boolean),
                Field::new("created_at", FieldKind::DateTime).read_only(),
                Field::new("updated_at", FieldKind::DateTime).read_only(),
                Field::new("version", FieldKind::Integer).hidden(),
                Field::new("category_id", FieldKind::Integer)
                    .nullable()
                    .relation("category", "Category"),
            ],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::QuerySpec;
    use serde_json::{Value, json};

    fn check(body: Value, partial: bool) -> Result<Value, crate::FieldErrors> {
        let Value::Object(body) = body else { panic!() };
        Item::fields_for_tests()
            .check(body, partial)
            .map(Value::Object)
    }

    #[test]
    fn limits_are_enforced_at_their_boundaries() {
        let name = "é".repeat(100);
        let description = "d".repeat(10_000);
        let ok = json!({"name": name, "description": description, "price": 0});
        assert_eq!(
            check(ok, false).unwrap(),
            json!({"name": name, "description": description, "price": 0, "in_stock": true, "category_id": null})
        );
        for bad in [
            json!({"name": format!("{name}x"), "description": "", "price": 1}),
            json!({"name": "a", "description": format!("{description}x"), "price": 1}),
            json!({"name": "", "description": "", "price": 1}),
            json!({"name": "a", "description": "", "price": -0.01}),
        ] {
            assert!(check(bad, false).is_err());
        }
        assert!(check(json!({"name": ""}), true).is_err());
        assert_eq!(check(json!({}), true).unwrap(), json!({}));
    }

    #[test]
    fn category_takes_a_key_or_null_and_is_stored_in_its_column() {
        let base = json!({"name": "a", "description": "", "price": 1});
        let clean = check(base.clone(), false).unwrap();
        assert_eq!(
            clean["category_id"],
            Value::Null,
            "absent on a full write is null"
        );
        let mut with = base.clone();
        with["category"] = json!(7);
        assert_eq!(check(with, false).unwrap()["category_id"], json!(7));
        for (sent, received) in [
            (json!("7"), "str"),
            (json!(true), "bool"),
            (json!(1.5), "float"),
            (json!([1]), "list"),
            (json!({"id": 1}), "dict"),
        ] {
            let mut body = base.clone();
            body["category"] = sent;
            let errors = check(body, false).unwrap_err();
            assert_eq!(
                errors.get("category").unwrap(),
                [format!(
                    "Incorrect type. Expected pk value, received {received}."
                )]
            );
        }
        let errors = check(json!({"category_id": 1}), true).unwrap_err();
        assert_eq!(errors.get("category_id").unwrap(), ["Unknown field."]);
    }

    #[test]
    fn query_declarations_are_consistent() {
        QuerySpec::new(&Item::fields_for_tests(), &ITEM_FILTERING)
            .check()
            .unwrap();
    }
}
