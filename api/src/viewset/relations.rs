//! Relations between resources (DRF's `ForeignKey` with `PrimaryKeyRelatedField`), declared
//! once on the resource that holds the key:
//!
//! ```ignore
//! fn relations() -> Vec<Relation> {
//!     vec![Relation::to::<Categories>("category", item::Column::CategoryId, OnDelete::Protect)]
//! }
//! ```
//!
//! From the declaration come: the field `category` (the target's key, or `null`; writes
//! take the key, with DRF's errors), `?expand=category` (the target's representation, one
//! statement per page), the filters `category`, `category__in`, `category__isnull` and the
//! target's own through the relation (`category__name__icontains`), orderings by the
//! target's fields (`category__name`), the nested routes `/categories/{id}/items/`, and the
//! 409 that deleting a protected target answers.
//!
//! The database enforces the relation: the table's migration creates the foreign key with
//! the declared `ON DELETE` (`RESTRICT`, `SET NULL` or `CASCADE`), so no race can store a
//! dangling key and a delete's effects happen in its one statement.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use domain::FieldErrors;
use domain::fields::{Fields, invalid_pk};
use domain::query::{FieldKind, QuerySpec, RelatedQuery, Value};
use infrastructure::PersistenceError;
use infrastructure::database::Db;
use infrastructure::repository::{Referring, Repository, Table, count_referencing, model_fields};
use sea_orm::{ColumnTrait, Condition, EntityName};
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use super::expand::Targets;
use super::resource::Resource;
use crate::error::{ApiError, ApiResult};

/// What deleting a relation's target does to the rows that refer to it (Django's
/// `on_delete`). The foreign key's `ON DELETE` in the table's migration must say the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The delete is refused (409) while rows refer to the target (`ON DELETE RESTRICT`).
    Protect,
    /// The rows' key becomes `null` (`ON DELETE SET NULL`; the column must be nullable).
    SetNull,
    /// The rows are deleted too (`ON DELETE CASCADE`).
    Cascade,
}

impl OnDelete {
    pub fn as_str(self) -> &'static str {
        match self {
            OnDelete::Protect => "protect",
            OnDelete::SetNull => "set_null",
            OnDelete::Cascade => "cascade",
        }
    }
}

/// Target rows: each one's key (as text) and its representation (JSON).
type Fetched<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<(String, Box<RawValue>)>, PersistenceError>> + 'a>>;
type Found<'a> = Pin<Box<dyn Future<Output = Result<bool, PersistenceError>> + 'a>>;

/// The target of a relation, resolved when the relation is declared.
pub struct Target {
    /// e.g. `Category`.
    pub name: &'static str,
    /// e.g. `categories`.
    pub path: &'static str,
    pub table: &'static str,
    pub key_kind: FieldKind,
    /// What the target's lists accept: filters and orderings through the relation.
    pub query: QuerySpec,
    /// The rows with these keys, as the target's representation.
    fetch: for<'a> fn(&'a Db, &'a [Value]) -> Fetched<'a>,
    /// Does a row with this key exist?
    find: for<'a> fn(&'a Db, &'a Value) -> Found<'a>,
}

impl Target {
    /// `T` as a relation's target. Its fields come from its columns without its own
    /// relations: those would build their targets in turn, and a relation that points back
    /// would never end (see [`Resource::fields`]).
    fn of<T: Resource>() -> Target {
        let fields: Fields = T::fields(model_fields::<T::Entity>());
        Target {
            name: T::NAME,
            path: T::PATH,
            table: T::Entity::default().table_name(),
            key_kind: fields
                .kind_of(fields.primary_key)
                .unwrap_or(FieldKind::Integer),
            query: QuerySpec::new(&fields, T::FILTERING),
            fetch: fetch::<T>,
            find: find::<T>,
        }
    }
}

/// The rows of `T` with the given keys, as `T`'s representation, in one statement.
fn fetch<'a, T: Resource>(db: &'a Db, keys: &'a [Value]) -> Fetched<'a> {
    Box::pin(async move {
        let rows = Repository::<T::Entity>::new(db, Condition::all())
            .get_many(keys)
            .await?;
        rows.into_iter()
            .map(|row| {
                let key = <T::Entity as Table>::key(&row).to_string();
                serde_json::value::to_raw_value(&T::Read::from(row))
                    .map(|json| (key, json))
                    .map_err(|e| PersistenceError::Unexpected(e.to_string()))
            })
            .collect()
    })
}

/// Whether a row of `T` has this key (the row is read, not serialized).
fn find<'a, T: Resource>(db: &'a Db, key: &'a Value) -> Found<'a> {
    Box::pin(async move {
        let rows = Repository::<T::Entity>::new(db, Condition::all())
            .get_many(std::slice::from_ref(key))
            .await?;
        Ok(!rows.is_empty())
    })
}

/// A relation declared by the resource that holds the key.
pub struct Relation {
    /// The field clients see, e.g. `category`.
    pub name: &'static str,
    /// The column that holds the target's key, e.g. `category_id`.
    pub column: &'static str,
    /// The column may be null: rows without a target.
    pub nullable: bool,
    pub on_delete: OnDelete,
    pub target: Target,
}

impl Relation {
    /// A relation named `name` to resource `T`, whose key `column` holds.
    ///
    /// # Panics
    /// When `SetNull` is declared on a column that cannot be null: a programming error,
    /// reported when the resource is registered.
    pub fn to<T: Resource>(
        name: &'static str,
        column: impl ColumnTrait,
        on_delete: OnDelete,
    ) -> Relation {
        let nullable = column.def().is_null();
        assert!(
            nullable || on_delete != OnDelete::SetNull,
            "relation `{name}`: set_null needs a nullable column"
        );
        Relation {
            name,
            column: column.as_str(),
            nullable,
            on_delete,
            target: Target::of::<T>(),
        }
    }

    /// How lists see the relation.
    pub fn query(&self) -> RelatedQuery {
        RelatedQuery {
            name: self.name,
            column: self.column,
            key_kind: self.target.key_kind,
            nullable: self.nullable,
            table: self.target.table,
            target: self.target.query.clone(),
        }
    }

    /// A key the client sent, as a query value.
    pub fn key(&self, json: &Json) -> Option<Value> {
        match json {
            Json::Number(n) => n.as_i64().map(Value::Integer),
            Json::String(s) => Some(Value::Text(s.clone())),
            _ => None,
        }
    }

    /// The key in a URL path segment (`/categories/{id}/items/`), as printed: like a detail
    /// URL's, `/categories/+1/items/` or `/categories/%201/items/` names no category.
    pub fn key_from_path(&self, raw: &str) -> Option<Value> {
        match Value::parse(self.target.key_kind, raw).ok()? {
            Value::Integer(key) if !super::context::printed_as(&key, raw) => None,
            key => Some(key),
        }
    }

    /// Does a target row with this key exist?
    pub async fn exists(&self, db: &Db, key: &Value) -> ApiResult<bool> {
        Ok((self.target.find)(db, key).await?)
    }
}

/// Gives each relation its field: the key column's field takes the relation's name.
pub fn fields(mut fields: Fields, relations: &[Relation]) -> Fields {
    for relation in relations {
        assert_eq!(
            fields.kind_of(relation.column),
            Some(relation.target.key_kind),
            "relation `{}`: column `{}` does not hold {}'s key",
            relation.name,
            relation.column,
            relation.target.name
        );
        // The example a client (Swagger UI's sample body) starts from: no target where that
        // is allowed, rather than a made-up key that is refused as unknown.
        let example = if relation.nullable {
            serde_json::Value::Null
        } else {
            1.into()
        };
        fields = fields.field(relation.column, |f| {
            f.relation(relation.name, relation.target.name)
                .help_text("The key of the related row; `expand` shows the row instead.")
                .example(example)
        });
    }
    fields
}

/// The key a row holds in a relation's column, as a query value (`None`: no target).
pub fn key_of(value: sea_orm::Value) -> Option<Value> {
    match value {
        sea_orm::Value::BigInt(Some(v)) => Some(Value::Integer(v)),
        sea_orm::Value::Int(Some(v)) => Some(Value::Integer(v.into())),
        sea_orm::Value::SmallInt(Some(v)) => Some(Value::Integer(v.into())),
        sea_orm::Value::String(Some(v)) => Some(Value::Text(v)),
        _ => None,
    }
}

/// `?expand=category,owner`: the relations to show expanded, checked against `relations`.
/// A resource without relations does not know the parameter, and ignores it like any other.
pub fn parse_expand(
    relations: &[Relation],
    raw: Option<&str>,
    errors: &mut FieldErrors,
) -> Vec<usize> {
    let mut chosen = Vec::new();
    if relations.is_empty() {
        return chosen;
    }
    let mut invalid = Vec::new();
    for name in raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match relations.iter().position(|r| r.name == name) {
            Some(i) if !chosen.contains(&i) => chosen.push(i),
            Some(_) => {}
            // Each unknown name once, at most ten of them, each cut to 100 characters.
            None if invalid.len() < 10 => {
                let name: String = name.chars().take(100).collect();
                if !invalid.contains(&name) {
                    invalid.push(name);
                }
            }
            None => {}
        }
    }
    if !invalid.is_empty() {
        let allowed: Vec<&str> = relations.iter().map(|r| r.name).collect();
        errors.add(
            EXPAND,
            format!(
                "Invalid expand value: {}. Allowed: {}.",
                invalid.join(", "),
                allowed.join(", ")
            ),
        );
    }
    chosen
}

/// The query parameter that asks for expanded relations.
pub const EXPAND: &str = "expand";

/// For each relation in `expand`, the targets of the keys `keys` gives (the distinct keys of
/// a page's rows): one statement per relation, never one per row.
pub async fn targets(
    db: &Db,
    relations: &[Relation],
    expand: &[usize],
    keys: impl Fn(&Relation) -> Vec<Value>,
) -> ApiResult<Vec<Targets>> {
    let mut all = Vec::with_capacity(expand.len());
    for relation in expand.iter().filter_map(|i| relations.get(*i)) {
        let keys = keys(relation);
        let mut by_key = HashMap::with_capacity(keys.len());
        if !keys.is_empty() {
            for (key, target) in (relation.target.fetch)(db, &keys).await? {
                // The key as a row's JSON holds it: `7`, or `"fr"` for a text key.
                let key = match relation.target.key_kind {
                    FieldKind::Text => Json::from(key).to_string(),
                    _ => key,
                };
                by_key.insert(key, target);
            }
        }
        all.push(Targets {
            field: relation.name,
            by_key,
        });
    }
    Ok(all)
}

/// The keys a write's checked values (by column) give its relations: kept to explain a
/// foreign key's refusal. Empty, and no allocation, when the write sets none.
pub fn sent_keys<'r>(
    relations: &'r [Relation],
    values: &Map<String, Json>,
) -> Vec<(&'r Relation, Value)> {
    relations
        .iter()
        .filter_map(|relation| Some((relation, relation.key(values.get(relation.column)?)?)))
        .collect()
}

/// DRF's error for the first relation whose key names no row:
/// `{"category": ["Invalid pk \"99\" - object does not exist."]}`.
pub async fn check_keys(db: &Db, sent: &[(&Relation, Value)]) -> ApiResult<()> {
    for (relation, key) in sent {
        if !relation.exists(db, key).await? {
            let pk = match key {
                Value::Integer(v) => v.to_string(),
                Value::Text(v) => v.clone(),
                other => format!("{other:?}"),
            };
            return Err(ApiError::Validation(FieldErrors::single(
                relation.name,
                invalid_pk(&pk),
            )));
        }
    }
    Ok(())
}

/// A write's body checked against `fields`. As DRF's serializer reports every field's error
/// at once, a body refused for other fields also gets `Invalid pk` for each relation key of
/// the right type that names no row (a query per key, on that error path only; a valid body
/// learns of a missing key from the foreign key, in its write statement).
pub async fn check_body(
    db: &Db,
    fields: &Fields,
    relations: &[Relation],
    body: Map<String, Json>,
    partial: bool,
) -> ApiResult<Map<String, Json>> {
    let keys: Vec<_> = relations
        .iter()
        .filter_map(|relation| Some((relation, relation.key(body.get(relation.name)?)?)))
        .collect();
    let mut errors = match fields.check(body, partial) {
        Ok(values) => return Ok(values),
        Err(errors) => errors,
    };
    for (relation, key) in keys {
        if errors.get(relation.name).is_some() {
            continue;
        }
        match check_keys(db, &[(relation, key)]).await {
            Ok(()) => {}
            Err(ApiError::Validation(missing)) => errors.merge(missing),
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::Validation(errors))
}

/// After a foreign key refused a write: DRF's error for a key that names no row. When every
/// key names a row (the target was deleted and the write raced it), the refusal stands as a
/// conflict.
pub async fn invalid_key(db: &Db, sent: &[(&Relation, Value)], refused: ApiError) -> ApiError {
    match check_keys(db, sent).await {
        Ok(()) => refused,
        Err(error) => error,
    }
}

/// A relation into a resource, as its target sees it: who refers to it.
#[derive(Clone)]
pub struct Incoming {
    /// The target's table and path.
    pub target_table: &'static str,
    pub target_path: &'static str,
    /// The referring resource's name (`Item`), path (`items`), table and key column.
    pub source_name: &'static str,
    pub source_path: &'static str,
    pub source_table: &'static str,
    pub column: &'static str,
    pub on_delete: OnDelete,
    /// The referring table's version and updated columns, which clearing the key bumps.
    pub source_version: Option<&'static str>,
    pub source_updated: Option<&'static str>,
}

/// Every relation of the registered resources, by target: what deleting a row involves.
#[derive(Default)]
pub struct Graph {
    pub incoming: Vec<Incoming>,
}

impl Graph {
    /// The `set_null` relations into `table`: what deleting one of its rows clears.
    pub fn cleared_by(&self, table: &str) -> Vec<Referring> {
        self.incoming
            .iter()
            .filter(|i| i.target_table == table && i.on_delete == OnDelete::SetNull)
            .map(|i| Referring {
                table: i.source_table,
                column: i.column,
                version: i.source_version,
                updated: i.source_updated,
            })
            .collect()
    }

    /// After a foreign key refused deleting row `key` of `table` (a `Resource` named
    /// `name`): DRF's words with the count of rows that protect it, `Cannot delete: 3 items
    /// refer to this category.`; `None` when no row refers to it any more.
    pub async fn protected(
        &self,
        db: &Db,
        table: &str,
        name: &str,
        key: &Value,
    ) -> ApiResult<Option<ApiError>> {
        for incoming in self
            .incoming
            .iter()
            .filter(|i| i.target_table == table && i.on_delete == OnDelete::Protect)
        {
            let count = count_referencing(db, incoming.source_table, incoming.column, key).await?;
            if count > 0 {
                let (who, verb) = if count == 1 {
                    (verbose_name(incoming.source_name), "refers")
                } else {
                    (incoming.source_path.replace('_', " "), "refer")
                };
                return Ok(Some(ApiError::Conflict(format!(
                    "Cannot delete: {count} {who} {verb} to this {}.",
                    verbose_name(name)
                ))));
            }
        }
        Ok(None)
    }
}

/// `Category` -> `category`, `BookAuthor` -> `book author`, as Django derives a model's
/// verbose name from its class name.
pub fn verbose_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Categories;
    use infrastructure::entities::item;

    fn parse(relations: &[Relation], raw: &str) -> (Vec<usize>, FieldErrors) {
        let mut errors = FieldErrors::new();
        (parse_expand(relations, Some(raw), &mut errors), errors)
    }

    #[test]
    fn expand_names_relations_once_and_reports_unknown_names_briefly() {
        let relations = [Relation::to::<Categories>(
            "category",
            item::Column::CategoryId,
            OnDelete::Protect,
        )];
        let (chosen, errors) = parse(&relations, "category,,category");
        assert_eq!((chosen, errors.is_empty()), (vec![0], true));
        let (_, errors) = parse(&relations, &"x,".repeat(2000));
        assert_eq!(
            errors.get(EXPAND).unwrap(),
            ["Invalid expand value: x. Allowed: category."]
        );
        let many: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
        let (_, errors) = parse(&relations, &many.join(","));
        let message = &errors.get(EXPAND).unwrap()[0];
        assert!(
            message.contains("r9.") && !message.contains("r10"),
            "{message}"
        );
        let (chosen, errors) = parse(&[], "anything");
        assert!(
            chosen.is_empty() && errors.is_empty(),
            "no relations: ignored"
        );
    }
}
