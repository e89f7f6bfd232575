//! What a registered resource knows about itself, computed once at registration: its
//! allowed methods, body schemas, and the body of `OPTIONS` (DRF's `SimpleMetadata`).

use actix_web::web::Bytes;
use domain::query::QuerySpec;
use serde_json::{Map, Value, json};
use utoipa::PartialSchema;

use super::body::BodySchema;
use super::resource::{Resource, Writable};

pub struct ResourceInfo {
    pub list_allow: &'static str,
    pub detail_allow: &'static str,
    /// For POST and PUT bodies; `None` for read-only resources.
    pub create: Option<BodySchema>,
    /// For PATCH bodies.
    pub patch: Option<BodySchema>,
    pub list_options: Bytes,
    pub detail_options: Bytes,
}

pub const READ_ONLY_ALLOW: &str = "GET, HEAD, OPTIONS";
pub const LIST_ALLOW: &str = "GET, HEAD, POST, OPTIONS";
pub const DETAIL_ALLOW: &str = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS";

pub fn schema_json<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_default()
}

impl ResourceInfo {
    pub fn read_only<R: Resource>() -> ResourceInfo {
        let read = schema_json::<R::Read>();
        ResourceInfo {
            list_allow: READ_ONLY_ALLOW,
            detail_allow: READ_ONLY_ALLOW,
            create: None,
            patch: None,
            list_options: options_body(R::NAME, "List", &read, None, Some(R::QUERY)),
            detail_options: options_body(R::NAME, "Instance", &read, None, None),
        }
    }

    pub fn writable<R: Writable>() -> ResourceInfo {
        let read = schema_json::<R::Read>();
        let create = schema_json::<R::Create>();
        ResourceInfo {
            list_allow: LIST_ALLOW,
            detail_allow: DETAIL_ALLOW,
            create: Some(BodySchema::new(&create, &read)),
            patch: Some(BodySchema::new(&schema_json::<R::Patch>(), &read)),
            list_options: options_body(
                R::NAME,
                "List",
                &read,
                Some(("POST", &create)),
                Some(R::QUERY),
            ),
            detail_options: options_body(R::NAME, "Instance", &read, Some(("PUT", &create)), None),
        }
    }
}

/// DRF's metadata: name, description, media types, and per write action the fields with
/// their type, whether required or read-only, and their limits. Lists add what they can be
/// filtered, searched and ordered by.
fn options_body(
    name: &str,
    suffix: &str,
    read: &Value,
    action: Option<(&str, &Value)>,
    query: Option<&QuerySpec>,
) -> Bytes {
    let mut body = Map::new();
    body.insert("name".into(), json!(format!("{name} {suffix}")));
    body.insert("description".into(), read["description"].clone());
    body.insert("renders".into(), json!(["application/json"]));
    body.insert("parses".into(), json!(["application/json"]));
    if let Some((method, write)) = action {
        body.insert("actions".into(), json!({ method: fields(read, write) }));
    }
    if let Some(spec) = query {
        let filters: Map<String, Value> = spec
            .filter_params()
            .map(|(param, _, kind, _)| (param, json!(kind.json_type())))
            .collect();
        body.insert("filters".into(), Value::Object(filters));
        body.insert("search_fields".into(), json!(spec.search));
        body.insert("ordering_fields".into(), json!(spec.ordering));
    }
    Bytes::from(serde_json::to_vec(&Value::Object(body)).unwrap_or_default())
}

fn fields(read: &Value, write: &Value) -> Value {
    let required: Vec<&Value> = write["required"]
        .as_array()
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (name, shown) in read["properties"].as_object().into_iter().flatten() {
        let writable = &write["properties"][name];
        let source = if writable.is_object() {
            writable
        } else {
            shown
        };
        let mut field = Map::new();
        field.insert("type".into(), json!(drf_type(source)));
        field.insert("required".into(), json!(required.contains(&&json!(name))));
        field.insert("read_only".into(), json!(!writable.is_object()));
        field.insert("label".into(), json!(label(name)));
        for (schema_key, drf_key) in [
            ("maxLength", "max_length"),
            ("minLength", "min_length"),
            ("minimum", "min_value"),
            ("maximum", "max_value"),
            ("default", "default"),
            ("description", "help_text"),
        ] {
            if let Some(value) = source.get(schema_key) {
                field.insert(drf_key.into(), value.clone());
            }
        }
        out.insert(name.clone(), Value::Object(field));
    }
    Value::Object(out)
}

fn drf_type(schema: &Value) -> &'static str {
    let ty = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or_default(),
        other => other.clone(),
    };
    match (ty.as_str().unwrap_or_default(), schema["format"].as_str()) {
        ("string", Some("date-time")) => "datetime",
        ("string", Some("date")) => "date",
        ("string", _) => "string",
        ("integer", _) => "integer",
        ("number", _) => "float",
        ("boolean", _) => "boolean",
        ("array", _) => "list",
        ("object", _) => "nested object",
        _ => "field",
    }
}

/// `in_stock` -> `In stock`, as Django derives verbose names.
fn label(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
