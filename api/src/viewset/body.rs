//! Request bodies: the media type, the size limit (declared or chunked), JSON syntax and an
//! object at the top. The field-by-field check is the resource's `Fields::check` (strict
//! JSON types, required fields, `null`, unknown fields, read-only fields dropped, strings
//! trimmed as DRF's `trim_whitespace` does, lengths and ranges), through
//! `relations::check_body`; all of a body's field errors are reported at once, keyed by
//! field, as DRF does.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use domain::FieldErrors;
use domain::fields::python_type;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Accepts `application/json` and `application/*+json`, except JSON Patch
/// (`application/json-patch+json`, RFC 6902): a list of operations this API does not apply.
/// A `charset` parameter may only name UTF-8 (RFC 8259: JSON between systems is UTF-8), and
/// a body with a content coding (`Content-Encoding: gzip`) is refused, not decoded: 415.
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
        || (essence.starts_with("application/")
            && essence.ends_with("+json")
            && essence != "application/json-patch+json");
    let utf8 = raw
        .split(';')
        .skip(1)
        .all(|parameter| match parameter.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                let value = value.trim().trim_matches('"');
                value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
            }
            _ => true,
        });
    if !json || !utf8 {
        return Err(ApiError::UnsupportedMediaType(
            raw.chars().take(100).collect(),
        ));
    }
    match request.headers().get(header::CONTENT_ENCODING) {
        Some(coding) if !coding.as_bytes().eq_ignore_ascii_case(b"identity") => {
            Err(ApiError::UnsupportedEncoding(
                coding.to_str().unwrap_or("?").chars().take(100).collect(),
            ))
        }
        _ => Ok(()),
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

/// Parses a JSON object body; an empty body is an empty object. A body of only whitespace is
/// not JSON, and a parse error (as in DRF, whose parser sees an empty body as no data and
/// anything else as JSON to parse).
pub fn object(bytes: &[u8]) -> ApiResult<Map<String, Value>> {
    let value: Value = if bytes.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))?
    };
    // DRF's texts, with Python's name for the JSON type.
    let Value::Object(object) = value else {
        let message = match value {
            Value::Null => "No data provided".to_string(),
            other => format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(&other)
            ),
        };
        return Err(FieldErrors::single("non_field_errors", message).into());
    };
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::fields::Fields;
    use infrastructure::entities::item;
    use infrastructure::repository::model_fields;
    use serde_json::json;

    use crate::resources::Items;
    use crate::viewset::Resource;

    fn fields() -> Fields {
        let relations = Items::relations();
        Items::fields(crate::viewset::relations::fields(
            model_fields::<item::Entity>(),
            &relations,
        ))
    }

    fn parse(fields: &Fields, bytes: &[u8], partial: bool) -> ApiResult<Map<String, Value>> {
        Ok(fields.check(object(bytes)?, partial)?)
    }

    fn create(body: Value) -> ApiResult<Map<String, Value>> {
        parse(&fields(), body.to_string().as_bytes(), false)
    }

    fn field_errors(result: ApiResult<Map<String, Value>>) -> FieldErrors {
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
            Value::Object(item),
            json!({"name": "Box", "description": "", "price": 3, "in_stock": true, "category_id": null})
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
    fn null_characters_and_overlong_trimmed_strings_are_refused() {
        let errors = field_errors(create(
            json!({"name": "a\u{0}b", "description": "", "price": 1}),
        ));
        assert_eq!(
            errors.get("name").unwrap(),
            ["Null characters are not allowed."]
        );
        let padded = format!(" {} ", "x".repeat(100));
        let body = create(json!({"name": padded, "description": "", "price": 1})).unwrap();
        assert_eq!(
            body["name"],
            "x".repeat(100),
            "the limit holds once trimmed"
        );
        let long = format!(" {} ", "x".repeat(101));
        let errors = field_errors(create(json!({"name": long, "description": "", "price": 1})));
        assert_eq!(
            errors.get("name").unwrap(),
            ["Ensure this field has no more than 100 characters."]
        );
    }

    #[test]
    fn partial_bodies_need_no_required_fields_but_refuse_null() {
        let patch = parse(&fields(), br#"{"price": 2}"#, true).unwrap();
        assert_eq!(Value::Object(patch), json!({"price": 2}));
        let result = parse(&fields(), br#"{"name": null}"#, true);
        assert!(matches!(result, Err(ApiError::Validation(e)) if e.contains("name")));
    }

    #[test]
    fn malformed_and_non_object_bodies() {
        let result = parse(&fields(), b"{\"name\": ", false);
        assert!(
            matches!(result, Err(ApiError::BadRequest(d)) if d.starts_with("JSON parse error"))
        );
        let errors = field_errors(parse(&fields(), b"[1]", false));
        assert!(errors.contains("non_field_errors"));
        let errors = field_errors(parse(&fields(), b"", false));
        assert!(errors.contains("name") && errors.contains("price"));
    }
}
