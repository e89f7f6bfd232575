//! Request bodies: the media type, the size limit (declared or chunked), JSON syntax, then
//! a field-by-field check against the payload type's JSON Schema (strict JSON types,
//! required fields, `null`, unknown fields, read-only fields dropped, strings trimmed as
//! DRF's `trim_whitespace` does), then the payload type's `validator` rules. All of a
//! body's field errors are reported at once, keyed by field, as DRF does.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use domain::FieldErrors;
use domain::query::NULL_CHARACTERS;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use validator::Validate;

use crate::error::{ApiError, ApiResult};

/// Accepts `application/json` and `application/*+json`, with any parameters.
pub fn check_content_type(request: &HttpRequest) -> ApiResult<()> {
    let raw = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"))
        .unwrap_or("");
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            raw.chars().take(100).collect(),
        ))
    }
}

/// Reads the whole body, refusing more than `limit` bytes whether announced or streamed.
pub async fn read(request: &HttpRequest, mut payload: Payload, limit: usize) -> ApiResult<Bytes> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::BadRequest("The request body could not be read.".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// One writable field as its schema declares it.
#[derive(Debug)]
struct FieldRule {
    name: String,
    /// JSON Schema type names the value may have (`null` among them when nullable).
    types: Vec<String>,
    required: bool,
    /// The documented `maxLength`, held against the string as sent (before trimming), so
    /// the server refuses exactly what the schema does.
    max_length: Option<usize>,
}

/// The writable fields of a payload type, and the read-only fields its bodies may carry.
#[derive(Debug)]
pub struct BodySchema {
    fields: Vec<FieldRule>,
    read_only: Vec<String>,
}

impl BodySchema {
    /// From the JSON Schemas of the payload type and of the representation.
    pub fn new(payload: &Value, representation: &Value) -> BodySchema {
        let required: Vec<&str> = payload["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties = payload["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let fields = properties
            .iter()
            .map(|(name, schema)| FieldRule {
                name: name.clone(),
                types: match &schema["type"] {
                    Value::String(t) => vec![t.clone()],
                    Value::Array(list) => list
                        .iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                    _ => Vec::new(),
                },
                required: required.contains(&name.as_str()),
                max_length: schema["maxLength"].as_u64().map(|n| n as usize),
            })
            .collect();
        let read_only = representation["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys())
            .filter(|name| !properties.contains_key(*name))
            .cloned()
            .collect();
        BodySchema { fields, read_only }
    }

    /// Checks shapes and types; returns the writable fields that passed, and the errors.
    fn check(&self, body: Map<String, Value>, partial: bool) -> (Map<String, Value>, FieldErrors) {
        let mut errors = FieldErrors::new();
        let mut clean = Map::new();
        for (name, mut value) in body {
            let Some(rule) = self.fields.iter().find(|rule| rule.name == name) else {
                if !self.read_only.contains(&name) {
                    errors.add(name, "Unknown field.");
                }
                continue;
            };
            match type_error(&rule.types, &value)
                .map(String::from)
                .or_else(|| text_error(rule, &value))
            {
                Some(message) => errors.add(name, message),
                None => {
                    if let Value::String(text) = &mut value {
                        let trimmed = text.trim();
                        if trimmed.len() != text.len() {
                            *text = trimmed.to_string();
                        }
                    }
                    clean.insert(name, value);
                }
            }
        }
        if !partial {
            for rule in self.fields.iter().filter(|rule| rule.required) {
                if !clean.contains_key(&rule.name) && !errors.contains(&rule.name) {
                    errors.add(rule.name.clone(), "This field is required.");
                }
            }
        }
        (clean, errors)
    }
}

/// DRF's message when `value` is not of the declared type; `None` when it is (or when the
/// schema does not say).
fn type_error(types: &[String], value: &Value) -> Option<&'static str> {
    if types.is_empty() {
        return None;
    }
    let allows = |t: &str| types.iter().any(|declared| declared == t);
    let fits = match value {
        Value::Null => allows("null"),
        Value::Bool(_) => allows("boolean"),
        Value::Number(n) => allows("number") || (allows("integer") && (n.is_i64() || n.is_u64())),
        Value::String(_) => allows("string"),
        Value::Array(_) => allows("array"),
        Value::Object(_) => allows("object"),
    };
    if fits {
        return None;
    }
    Some(if value.is_null() {
        "This field may not be null."
    } else if allows("integer") {
        "A valid integer is required."
    } else if allows("number") {
        "A valid number is required."
    } else if allows("boolean") {
        "Must be a valid boolean."
    } else if allows("string") {
        "Not a valid string."
    } else {
        "Invalid type."
    })
}

/// NUL characters (which text columns cannot hold) and strings over the documented length.
fn text_error(rule: &FieldRule, value: &Value) -> Option<String> {
    let text = value.as_str()?;
    if text.contains('\0') {
        return Some(NULL_CHARACTERS.to_string());
    }
    let max = rule.max_length?;
    (text.chars().count() > max)
        .then(|| format!("Ensure this field has no more than {max} characters."))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses a body into `T`, checked by `schema` and validated by `T`'s rules. When some
/// fields fail their checks, the rules of the others still run (through the all-optional
/// type `P`), so one response lists every problem.
pub fn parse<T, P>(schema: &BodySchema, bytes: &[u8], partial: bool) -> ApiResult<T>
where
    T: DeserializeOwned + Validate,
    P: DeserializeOwned + Validate,
{
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))?
    };
    let Value::Object(object) = value else {
        let message = format!(
            "Invalid data. Expected a dictionary, but got {}.",
            json_type(&value)
        );
        return Err(FieldErrors::single("non_field_errors", message).into());
    };
    let (clean, mut errors) = schema.check(object, partial);
    if errors.is_empty() {
        let payload: T = serde_json::from_value(Value::Object(clean))
            .map_err(|e| FieldErrors::single("non_field_errors", e.to_string()))?;
        return match payload.validate() {
            Ok(()) => Ok(payload),
            Err(rules) => Err(FieldErrors::from(rules).into()),
        };
    }
    if let Ok(Err(rules)) = serde_json::from_value::<P>(Value::Object(clean)).map(|p| p.validate())
    {
        errors.merge(FieldErrors::from(rules));
    }
    Err(errors.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::item::{Item, ItemCreate, ItemPatch};
    use serde_json::json;
    use utoipa::PartialSchema;

    fn schema<T: PartialSchema>() -> BodySchema {
        let json = |s| serde_json::to_value(s).unwrap();
        BodySchema::new(&json(T::schema()), &json(Item::schema()))
    }

    fn create(body: Value) -> ApiResult<ItemCreate> {
        parse::<ItemCreate, ItemPatch>(&schema::<ItemCreate>(), body.to_string().as_bytes(), false)
    }

    fn field_errors(result: ApiResult<ItemCreate>) -> FieldErrors {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn reports_every_field_at_once() {
        let errors = field_errors(create(json!({"name": "", "price": -1})));
        assert_eq!(
            errors.get("name").unwrap(),
            ["This field may not be blank."]
        );
        assert_eq!(
            errors.get("description").unwrap(),
            ["This field is required."]
        );
        assert_eq!(
            errors.get("price").unwrap(),
            ["Ensure this value is greater than or equal to 0."]
        );
    }

    #[test]
    fn types_are_strict() {
        let errors = field_errors(create(
            json!({"name": 1, "description": null, "price": "12.5", "in_stock": "yes"}),
        ));
        assert_eq!(errors.get("name").unwrap(), ["Not a valid string."]);
        assert_eq!(
            errors.get("description").unwrap(),
            ["This field may not be null."]
        );
        assert_eq!(
            errors.get("price").unwrap(),
            ["A valid number is required."]
        );
        assert_eq!(
            errors.get("in_stock").unwrap(),
            ["Must be a valid boolean."]
        );
    }

    #[test]
    fn read_only_fields_are_ignored_unknown_ones_refused_strings_trimmed() {
        let item = create(
            json!({"id": null, "created_at": "x", "name": "  Box ", "description": "", "price": 3}),
        )
        .unwrap();
        assert_eq!(
            (item.name.as_str(), item.price, item.in_stock),
            ("Box", 3.0, true)
        );
        let errors = field_errors(create(
            json!({"name": "a", "description": "", "price": 1, "colour": "red"}),
        ));
        assert_eq!(errors.get("colour").unwrap(), ["Unknown field."]);
        let errors = field_errors(create(
            json!({"name": "   ", "description": "", "price": 1}),
        ));
        assert_eq!(
            errors.get("name").unwrap(),
            ["This field may not be blank."]
        );
    }

    #[test]
    fn null_characters_and_overlong_raw_strings_are_refused() {
        let errors = field_errors(create(
            json!({"name": "a\u{0}b", "description": "", "price": 1}),
        ));
        assert_eq!(
            errors.get("name").unwrap(),
            ["Null characters are not allowed."]
        );
        let padded = format!("{} ", "x".repeat(100));
        let errors = field_errors(create(
            json!({"name": padded, "description": "", "price": 1}),
        ));
        assert_eq!(
            errors.get("name").unwrap(),
            ["Ensure this field has no more than 100 characters."]
        );
    }

    #[test]
    fn partial_bodies_need_no_required_fields_but_refuse_null() {
        let schema = schema::<ItemPatch>();
        let patch = parse::<ItemPatch, ItemPatch>(&schema, br#"{"price": 2}"#, true).unwrap();
        assert_eq!(
            patch,
            ItemPatch {
                price: Some(2.0),
                ..Default::default()
            }
        );
        let result = parse::<ItemPatch, ItemPatch>(&schema, br#"{"name": null}"#, true);
        assert!(matches!(result, Err(ApiError::Validation(e)) if e.contains("name")));
    }

    #[test]
    fn malformed_and_non_object_bodies() {
        let result = parse::<ItemCreate, ItemPatch>(&schema::<ItemCreate>(), b"{\"name\": ", false);
        assert!(
            matches!(result, Err(ApiError::BadRequest(d)) if d.starts_with("JSON parse error"))
        );
        let errors = field_errors(parse::<ItemCreate, ItemPatch>(
            &schema::<ItemCreate>(),
            b"[1]",
            false,
        ));
        assert!(errors.contains("non_field_errors"));
        let errors = field_errors(parse::<ItemCreate, ItemPatch>(
            &schema::<ItemCreate>(),
            b"",
            false,
        ));
        assert!(errors.contains("name") && errors.contains("price"));
    }
}
