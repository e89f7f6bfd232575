//! Cursor pagination (DRF's `CursorPagination`): `?cursor=` (empty for the first page) and
//! `?page_size=`. Keyset pages: each page starts after (or, for `previous`, ends before)
//! the row its cursor names, so pages cost the same at any depth and stay exact while rows
//! are added or removed. They have no `count`.
//!
//! A cursor is opaque: base64url JSON of the row's ordering values, bound to the request's
//! ordering. Decoding checks everything (shape, ordering, the type of each value), so a
//! garbage or tampered cursor is a 400 and can never reach the database as anything but
//! typed parameters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::FieldErrors;
use domain::query::{FieldKind, ListParams, OrderBy, QuerySpec, Value, ordering_key};
use infrastructure::repository::{Page, Repository, Table};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};

use super::{Envelope, Link, PAGE_SIZE, PageDefaults, Query, page_size, page_size_parameter};
use crate::error::ApiResult;
use crate::viewset::openapi::parameter;

pub const CURSOR: &str = "cursor";
pub const PARAMETERS: &[&str] = &[CURSOR, PAGE_SIZE];
/// Longest `cursor` accepted before decoding is attempted.
const MAX_CURSOR_LEN: usize = 2048;
/// base64url, as the server writes it (padding tolerated); empty for the first page.
const PATTERN: &str = "^[A-Za-z0-9_-]*=*$";

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub size: u64,
    /// `None`: the first page.
    pub cursor: Option<Cursor>,
}

impl Request {
    pub async fn fetch<E>(
        &self,
        repository: &Repository<'_, E>,
        spec: &QuerySpec,
        params: &ListParams,
    ) -> ApiResult<Page<E::Model>>
    where
        E: Table,
        E::Model: Sync,
    {
        let position = self
            .cursor
            .as_ref()
            .map(|c| (c.values.as_slice(), c.before));
        Ok(repository
            .keyset_page(spec, params, self.size, position)
            .await?)
    }

    pub fn envelope<M>(&self, params: &ListParams, page: &Page<M>, link: &Link<'_>) -> Envelope {
        let key = ordering_key(&params.ordering);
        let cursor = |before: bool, values: &Option<Vec<Value>>| {
            let encoded = Cursor {
                before,
                values: values.clone()?,
            }
            .encode(&key);
            link(&[(CURSOR, Some(encoded))])
        };
        Envelope {
            count: None,
            estimated: false,
            next: page.has_next.then(|| cursor(false, &page.last)).flatten(),
            previous: page
                .has_previous
                .then(|| cursor(true, &page.first))
                .flatten(),
        }
    }
}

pub fn requested(query: &Query<'_>) -> bool {
    query.has(CURSOR)
}

pub fn parse(
    query: &Query<'_>,
    defaults: &PageDefaults,
    spec: &QuerySpec,
    ordering: &[OrderBy],
    errors: &mut FieldErrors,
) -> Option<Request> {
    let size = page_size(query, defaults, errors);
    let cursor = match query.get(CURSOR) {
        None | Some("") => None,
        Some(raw) => {
            let decoded = (raw.len() <= MAX_CURSOR_LEN)
                .then(|| Cursor::decode(raw, spec, ordering, &ordering_key(ordering)))
                .flatten();
            if decoded.is_none() {
                errors.add(CURSOR, "Invalid cursor.");
                return None;
            }
            decoded
        }
    };
    Some(Request { size, cursor })
}

pub fn parameters() -> Vec<(&'static str, ParameterBuilder)> {
    vec![
        (
            CURSOR,
            parameter(
                CURSOR,
                ParameterIn::Query,
                // What cursors the server issues are made of (base64url); one it did not issue
                // is still a 400, which no schema can tell apart.
                json!({"type": "string", "pattern": PATTERN, "maxLength": MAX_CURSOR_LEN}),
                "Opaque position from a `next`/`previous` link; empty for the first page. Cursor pages have no `count`; \
                 a cursor the server did not issue is a 400.",
            ),
        ),
        page_size_parameter(),
    ]
}

/// A position between two rows of an ordering.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// `true`: the page holds the rows *before* the position (a `previous` link).
    pub before: bool,
    /// One value per ordering field, in ordering order.
    pub values: Vec<Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    /// The ordering this cursor belongs to.
    o: String,
    /// Direction: before (`true`) or after.
    b: bool,
    /// Position.
    p: Vec<Json>,
}

impl Cursor {
    pub fn encode(&self, ordering_key: &str) -> String {
        let wire = Wire {
            o: ordering_key.to_string(),
            b: self.before,
            p: self.values.iter().map(to_json).collect(),
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// `None` for anything that is not a cursor this ordering produced.
    pub fn decode(
        raw: &str,
        spec: &QuerySpec,
        ordering: &[OrderBy],
        ordering_key: &str,
    ) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).ok()?;
        let wire: Wire = serde_json::from_slice(&bytes).ok()?;
        if wire.o != ordering_key || wire.p.len() != ordering.len() {
            return None;
        }
        let values = ordering
            .iter()
            .zip(wire.p)
            .map(|(order, json)| {
                let kind = match order.via {
                    Some(via) => spec.relation(via)?.target.kind_of(order.field)?,
                    None => spec.kind_of(order.field)?,
                };
                match json {
                    Json::Null if order.nullable => Some(Value::Null),
                    json => from_json(kind, json),
                }
            })
            .collect::<Option<Vec<Value>>>()?;
        Some(Cursor {
            before: wire.b,
            values,
        })
    }
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Integer(v) => Json::from(*v),
        Value::Float(v) => Json::from(*v),
        Value::Boolean(v) => Json::from(*v),
        Value::Text(v) => Json::from(v.as_str()),
        Value::DateTime(v) => Json::from(v.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Value::Null => Json::Null,
    }
}

fn from_json(kind: FieldKind, json: Json) -> Option<Value> {
    Some(match (kind, json) {
        (FieldKind::Integer, Json::Number(n)) => Value::Integer(n.as_i64()?),
        (FieldKind::Float, Json::Number(n)) => Value::Float(n.as_f64().filter(|f| f.is_finite())?),
        (FieldKind::Boolean, Json::Bool(b)) => Value::Boolean(b),
        (FieldKind::Text, Json::String(s)) if !s.contains('\0') => Value::Text(s),
        (FieldKind::DateTime, Json::String(s)) => {
            Value::DateTime(DateTime::parse_from_rfc3339(&s).ok()?.with_timezone(&Utc))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parse, spec};
    use super::super::{ALL, PageRequest};
    use super::*;

    fn ordering() -> Vec<OrderBy> {
        vec![
            OrderBy::own("price", true),
            OrderBy::own("at", false),
            OrderBy::own("id", false),
        ]
    }

    #[test]
    fn round_trips_and_is_bound_to_its_ordering() {
        let at = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let cursor = Cursor {
            before: true,
            values: vec![Value::Float(12.5), Value::DateTime(at), Value::Integer(42)],
        };
        let raw = cursor.encode("-price,at,id");
        assert_eq!(
            Cursor::decode(&raw, &spec(), &ordering(), "-price,at,id"),
            Some(cursor)
        );
        assert_eq!(
            Cursor::decode(&raw, &spec(), &ordering(), "price,at,id"),
            None
        );
    }

    #[test]
    fn tampered_values_are_rejected() {
        let wire = |p: Json| {
            URL_SAFE_NO_PAD
                .encode(serde_json::json!({"o": "-price,at,id", "b": false, "p": p}).to_string())
        };
        for p in [
            serde_json::json!(["12", "2024-01-01T00:00:00Z", 1]),
            serde_json::json!([1.5, "yesterday", 1]),
            serde_json::json!([1.5, "2024-01-01T00:00:00Z", 1.5]),
            serde_json::json!([1.5, "2024-01-01T00:00:00Z"]),
            serde_json::json!([1.5, "2024-01-01T00:00:00Z", "1; DROP TABLE items"]),
        ] {
            assert_eq!(
                Cursor::decode(&wire(p.clone()), &spec(), &ordering(), "-price,at,id"),
                None,
                "{p}"
            );
        }
    }

    #[test]
    fn garbage_cursors_are_errors_and_an_empty_cursor_is_the_first_page() {
        assert_eq!(
            parse(ALL, "cursor=&page_size=7").unwrap().page,
            PageRequest::Cursor(Request {
                size: 7,
                cursor: None
            })
        );
        for bad in ["cursor=abc", "cursor=%%%", "cursor=eyJ4IjoxfQ"] {
            assert!(parse(ALL, bad).unwrap_err().contains("cursor"), "{bad}");
        }
    }
}
