//! `Category`, the second resource: what clients read, the rules its fields obey beyond its
//! table's, and what its lists can be filtered, searched and ordered by.

use serde::Serialize;

use crate::fields::Fields;
use crate::query::{Filtering, Lookup};
use crate::timestamp::Timestamp;

/// A category of items: what clients read. Its fields and their rules are the `categories`
/// table's columns with [`rules`] applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What `Category`'s rules add to its table's columns (which give the types, the read-only
/// `id` and timestamps, `name`'s 100 characters and `description`'s 1,000).
pub fn rules(model: Fields) -> Fields {
    model
        .describe("A category of items.")
        // The unique index on `lower(name)` (migration `create_categories`) enforces it.
        .field("name", |f| f.unique_ignoring_case().example("Tools"))
        .field("description", |f| {
            f.allow_blank()
                .default("")
                .example("Hammers, saws and drills.")
        })
}

/// What `GET /categories/` can be filtered, searched and ordered by.
pub const CATEGORY_FILTERING: Filtering = Filtering {
    filters: &[
        ("id", &[Lookup::Exact, Lookup::In]),
        ("name", &[Lookup::Exact, Lookup::IContains]),
    ],
    search: &["name"],
    // `name` has an index with `id` (migration `create_categories`).
    ordering: &["id", "name"],
    default_ordering: &["id"],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{Field, Unique};
    use crate::query::{FieldKind, QuerySpec};
    use serde_json::{Value, json};

    /// The fields as the persistence layer derives them from the `categories` table, with
    /// the rules applied.
    fn fields() -> Fields {
        rules(Fields::new(
            "id",
            vec![
                Field::new("id", FieldKind::Integer).read_only(),
                Field::new("name", FieldKind::Text).max_length(100),
                Field::new("description", FieldKind::Text).max_length(1000),
                Field::new("created_at", FieldKind::DateTime).read_only(),
                Field::new("updated_at", FieldKind::DateTime).read_only(),
                Field::new("version", FieldKind::Integer).hidden(),
            ],
        ))
    }

    fn check(body: Value, partial: bool) -> Result<Value, crate::FieldErrors> {
        let Value::Object(body) = body else { panic!() };
        fields().check(body, partial).map(Value::Object)
    }

    #[test]
    fn description_defaults_to_empty_and_may_be_blank() {
        assert_eq!(
            check(json!({"name": " Tools "}), false).unwrap(),
            json!({"name": "Tools", "description": ""})
        );
        assert_eq!(
            check(json!({"name": "a", "description": "  "}), false).unwrap(),
            json!({"name": "a", "description": ""})
        );
        assert!(check(json!({"name": "a", "description": "d".repeat(1001)}), false).is_err());
        assert!(check(json!({"name": "n".repeat(101)}), false).is_err());
        assert!(check(json!({"description": "d"}), false).is_err());
    }

    #[test]
    fn name_is_unique_ignoring_case() {
        let fields = fields();
        assert_eq!(
            fields.get("name").unwrap().unique,
            Some(Unique::IgnoringCase)
        );
        assert_eq!(fields.get("description").unwrap().unique, None);
    }

    #[test]
    fn query_declarations_are_consistent() {
        QuerySpec::new(&fields(), &CATEGORY_FILTERING)
            .check()
            .unwrap();
    }
}
