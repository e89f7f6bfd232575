//! What a registered resource knows about itself, computed once at registration: its
//! allowed methods, its fields, what its lists accept, and the body of `OPTIONS` (DRF's
//! `SimpleMetadata`); and, read from the database on its first list, its table's indexes.

use std::collections::HashSet;

use actix_web::web::Bytes;
use domain::fields::{Fields, Unique};
use domain::query::{FieldKind, QuerySpec};
use infrastructure::PersistenceError;
use infrastructure::database::Db;
use infrastructure::repository::{check_columns, indexed_columns, model_fields};
use sea_orm::EntityName;
use serde_json::{Map, Value, json};

use super::actions::Actions;
use super::pagination::{self, Pagination};
use super::relations::{self, Relation};
use super::resource::Resource;

pub struct ResourceInfo {
    /// The actions registered (DRF's mixins).
    pub actions: Actions,
    pub list_allow: &'static str,
    pub detail_allow: &'static str,
    /// The fields and their rules: bodies are checked against them.
    pub fields: Fields,
    /// What lists accept, with the kinds of the fields they name.
    pub query: QuerySpec,
    /// The pagination styles lists offer.
    pub pagination: Pagination,
    /// The relations the resource holds the keys of.
    pub relations: Vec<Relation>,
    pub list_options: Options,
    pub detail_options: Options,
    /// The resource's table.
    table: &'static str,
    /// The columns that lead one of the table's B-tree indexes, read once (see
    /// [`ResourceInfo::indexed`]).
    indexed: tokio::sync::OnceCell<Option<HashSet<String>>>,
}

impl ResourceInfo {
    /// Everything `R` declares, resolved once when it is registered.
    ///
    /// # Panics
    /// When the declarations name a field the table does not have, or no pagination style.
    pub fn new<R: Resource>(actions: Actions) -> ResourceInfo {
        let relations = R::relations();
        let fields = R::fields(relations::fields(model_fields::<R::Entity>(), &relations));
        let mut query = QuerySpec::new(&fields, R::FILTERING);
        query.relations = relations.iter().map(Relation::query).collect();
        if let Err(problem) = check_columns::<R::Entity>(&query) {
            panic!("{}: {problem}", R::NAME);
        }
        assert!(
            !R::PAGINATION.is_empty(),
            "{}: PAGINATION names no style",
            R::NAME
        );
        let mut reserved = pagination::parameter_names(R::PAGINATION);
        reserved.push(relations::EXPAND);
        if let Some(param) = query
            .filter_params()
            .into_iter()
            .find(|param| reserved.contains(&param.name.as_str()))
        {
            panic!(
                "{}: filter `{}` is a reserved parameter",
                R::NAME,
                param.name
            );
        }
        let write = |action: Actions, method: &str| {
            actions
                .has(action)
                .then(|| (method.to_string(), field_actions(&fields)))
        };
        ResourceInfo {
            actions,
            list_allow: actions.list_allow(),
            detail_allow: actions.detail_allow(),
            list_options: options_body(
                R::NAME,
                "List",
                &fields,
                write(Actions::CREATE, "POST"),
                Some(&query),
                &relations,
            ),
            detail_options: options_body(
                R::NAME,
                "Instance",
                &fields,
                write(Actions::UPDATE, "PUT"),
                None,
                &relations,
            ),
            fields,
            query,
            pagination: R::PAGINATION,
            relations,
            table: R::Entity::default().table_name(),
            indexed: tokio::sync::OnceCell::new(),
        }
    }

    /// The columns that lead one of the table's B-tree indexes (PostgreSQL; `None` on
    /// SQLite), read from the database by the first list request and kept: an index added
    /// later counts after a restart. Lists a client orders by another column are guarded
    /// (see `pagination::Guard`); a default ordering no index serves is logged, once.
    pub async fn indexed(&self, db: &Db) -> Result<Option<&HashSet<String>>, PersistenceError> {
        let indexed = self
            .indexed
            .get_or_try_init(|| async {
                let indexed = indexed_columns(db, self.table).await?;
                let default = self.query.default_ordering.first();
                if let (Some(columns), Some(field)) = (&indexed, default) {
                    let field = field.trim_start_matches('-');
                    if !pagination::index_leads(&self.query, columns, field) {
                        tracing::warn!(
                            table = self.table,
                            field,
                            "the default ordering has no index: every default page of a \
                             large table sorts all its rows"
                        );
                    }
                }
                Ok::<_, PersistenceError>(indexed)
            })
            .await?;
        Ok(indexed.as_ref())
    }
}

/// The `OPTIONS` body of a route, in two forms: with its write action described, for
/// callers the permission hooks would let make it, and without, for the others (DRF's
/// `SimpleMetadata.determine_actions`).
pub struct Options {
    writer: Bytes,
    reader: Bytes,
}

impl Options {
    pub fn body(&self, may_write: bool) -> Bytes {
        if may_write {
            self.writer.clone()
        } else {
            self.reader.clone()
        }
    }
}

/// DRF's metadata: name, description, media types, and per write action the fields with
/// their type, whether required or read-only, and their limits. Lists add what they can be
/// filtered, searched and ordered by.
fn options_body(
    name: &str,
    suffix: &str,
    fields: &Fields,
    action: Option<(String, Value)>,
    query: Option<&QuerySpec>,
    relations: &[Relation],
) -> Options {
    let mut body = Map::new();
    body.insert("name".into(), json!(format!("{name} {suffix}")));
    body.insert("description".into(), json!(fields.description));
    body.insert("renders".into(), json!(["application/json"]));
    body.insert("parses".into(), json!(["application/json"]));
    if let Some(spec) = query {
        let filters: Map<String, Value> = spec
            .filter_params()
            .into_iter()
            .map(|param| (param.name, json!(param.kind.json_type())))
            .collect();
        body.insert("filters".into(), Value::Object(filters));
        body.insert("search_fields".into(), json!(spec.search));
        body.insert("ordering_fields".into(), json!(spec.ordering_names()));
    }
    if !relations.is_empty() {
        let described: Map<String, Value> = relations
            .iter()
            .map(|relation| {
                let described = json!({
                    "target": relation.target.name,
                    "url": format!("/{}/", relation.target.path),
                    "nullable": relation.nullable,
                    "on_delete": relation.on_delete.as_str(),
                    "expand": format!("?{}={}", relations::EXPAND, relation.name),
                });
                (relation.name.to_string(), described)
            })
            .collect();
        body.insert("relations".into(), Value::Object(described));
    }
    let bytes =
        |body: &Map<String, Value>| Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let reader = bytes(&body);
    let writer = match action {
        Some((method, write)) => {
            body.insert("actions".into(), json!({ method: write }));
            bytes(&body)
        }
        None => reader.clone(),
    };
    Options { writer, reader }
}

/// Every shown field as DRF's `SimpleMetadata` describes it for a write action: type,
/// whether required or read-only, label, and the limits of writable fields (with `unique`,
/// and `unique_ignoring_case`, for a unique one).
fn field_actions(fields: &Fields) -> Value {
    let mut out = Map::new();
    for field in fields.shown() {
        let mut entry = Map::new();
        let kind = if field.related.is_some() {
            "field"
        } else {
            drf_type(field.kind)
        };
        entry.insert("type".into(), json!(kind));
        entry.insert("required".into(), json!(field.required()));
        entry.insert("read_only".into(), json!(!field.writable()));
        entry.insert("label".into(), json!(label(field.name)));
        if field.writable() {
            let limits = [
                ("max_length", field.max_length.map(Value::from)),
                ("min_length", field.min_chars().map(Value::from)),
                // (a relation's key: the target row's, whatever its column type allows)
                (
                    "min_value",
                    field.minimum.filter(|_| kind != "field").map(number),
                ),
                (
                    "max_value",
                    field.maximum.filter(|_| kind != "field").map(number),
                ),
                ("default", field.default.clone()),
                ("unique", field.unique.map(|_| json!(true))),
                (
                    "unique_ignoring_case",
                    (field.unique == Some(Unique::IgnoringCase)).then_some(json!(true)),
                ),
            ];
            for (key, value) in limits {
                if let Some(value) = value {
                    entry.insert(key.into(), value);
                }
            }
        }
        if let Some(help) = field.help_text {
            entry.insert("help_text".into(), json!(help));
        }
        out.insert(field.name.into(), Value::Object(entry));
    }
    Value::Object(out)
}

/// A bound as JSON: `0`, not `0.0`; a 64-bit integer's bounds as the integers they are
/// (`2^63` stands for `i64::MAX`, the nearest a float holds).
pub fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() <= 2f64.powi(63) {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn drf_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "string",
        FieldKind::Integer => "integer",
        FieldKind::Float => "float",
        FieldKind::Boolean => "boolean",
        FieldKind::DateTime => "datetime",
    }
}

/// `in_stock` -> `In stock`, as Django derives verbose names.
pub(super) fn label(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
