//! Opaque keyset cursors: the ordering values of the row a page starts after (or before).
//!
//! Encoded as base64url JSON bound to the request's ordering. Decoding checks everything
//! (shape, ordering, the type of each value), so a garbage or tampered cursor is rejected
//! as a client error and can never reach the database as anything but typed parameters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{FieldKind, OrderBy, QuerySpec, Value};

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
            .map(|(order, json)| from_json(spec.kind_of(order.field)?, json))
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
    use super::*;
    use crate::query::Lookup;

    fn spec() -> QuerySpec {
        QuerySpec {
            primary_key: "id",
            fields: vec![
                ("id", FieldKind::Integer),
                ("price", FieldKind::Float),
                ("at", FieldKind::DateTime),
            ],
            filters: &[("id", &[Lookup::Exact])],
            search: &[],
            ordering: &["price", "at"],
            default_ordering: &["id"],
        }
    }

    fn ordering() -> Vec<OrderBy> {
        vec![
            OrderBy {
                field: "price",
                descending: true,
            },
            OrderBy {
                field: "at",
                descending: false,
            },
            OrderBy {
                field: "id",
                descending: false,
            },
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
}
