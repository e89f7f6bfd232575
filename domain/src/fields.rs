//! A resource's fields as DRF's `ModelSerializer` sees them: each rule (type, nullability,
//! length, range, default, read-only) is declared once, here, and everything else reads it:
//! the check of request bodies, the OpenAPI schemas, the `OPTIONS` metadata and the kinds
//! list filters parse. The persistence layer derives a resource's fields from its table's
//! columns (a `VARCHAR(100)` column gives `max_length = 100`); the resource declares only
//! what differs, as `extra_kwargs` does in DRF.

use chrono::DateTime;
use serde_json::{Map, Value};
use validator::{ValidateLength, ValidateRange};

use crate::FieldErrors;
use crate::query::{FieldKind, NULL_CHARACTERS};

/// Who sees and writes a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and written by clients.
    ReadWrite,
    /// Shown to clients, set by the server; ignored in request bodies.
    ReadOnly,
    /// Neither shown nor written (a row version, say).
    Hidden,
}

/// A unique field: no two rows hold the same value (DRF's `UniqueValidator`).
///
/// Declaring it documents the rule (`OPTIONS`, OpenAPI) and names the field in the answer to a
/// violation; a unique index that the table's migration creates enforces it, race-free. The
/// index's name must contain the field's name (`idx_categories_name_lower`): the API finds
/// the field a violation is about by it. A write that violates it is a 400 on the field:
/// `{"name": ["category with this name already exists."]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// Values equal as sent (a unique index on the column).
    Exact,
    /// Values equal ignoring case (a unique index on `lower(column)`).
    IgnoringCase,
}

/// One field and its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The name clients use.
    pub name: &'static str,
    /// The table column that stores it: the name, except for a relation's field
    /// (`category` in column `category_id`).
    pub column: &'static str,
    pub kind: FieldKind,
    /// A relation's field holds the key of a row of this resource (DRF's
    /// `PrimaryKeyRelatedField`): its errors speak of pks.
    pub related: Option<&'static str>,
    pub access: Access,
    /// `null` is a value (the column is nullable).
    pub nullable: bool,
    /// The value a full write (create, replace) gives a field it omits.
    pub default: Option<Value>,
    /// Text: may it be empty (after trimming)? DRF's `allow_blank`, false by default.
    pub allow_blank: bool,
    /// Text length in characters, of the value as stored (trimmed), as DRF's validators.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// Numbers: inclusive bounds.
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// No two rows may hold the same value: see [`Unique`].
    pub unique: Option<Unique>,
    /// For documentation.
    pub example: Option<Value>,
    pub help_text: Option<&'static str>,
}

impl Field {
    /// A required, writable, non-null field with no limits.
    pub fn new(name: &'static str, kind: FieldKind) -> Field {
        Field {
            name,
            column: name,
            kind,
            related: None,
            access: Access::ReadWrite,
            nullable: false,
            default: None,
            allow_blank: false,
            min_length: None,
            max_length: None,
            minimum: None,
            maximum: None,
            unique: None,
            example: None,
            help_text: None,
        }
    }

    /// The field of a relation: named `name` for clients, holding the key of a `target`
    /// row (the column keeps its name).
    pub fn relation(self, name: &'static str, target: &'static str) -> Field {
        Field {
            name,
            related: Some(target),
            ..self
        }
    }

    pub fn read_only(self) -> Field {
        Field {
            access: Access::ReadOnly,
            ..self
        }
    }

    pub fn hidden(self) -> Field {
        Field {
            access: Access::Hidden,
            ..self
        }
    }

    pub fn nullable(self) -> Field {
        Field {
            nullable: true,
            ..self
        }
    }

    pub fn default(self, value: impl Into<Value>) -> Field {
        Field {
            default: Some(value.into()),
            ..self
        }
    }

    pub fn allow_blank(self) -> Field {
        Field {
            allow_blank: true,
            ..self
        }
    }

    pub fn min_length(self, characters: u64) -> Field {
        Field {
            min_length: Some(characters),
            ..self
        }
    }

    pub fn max_length(self, characters: u64) -> Field {
        Field {
            max_length: Some(characters),
            ..self
        }
    }

    pub fn minimum(self, minimum: f64) -> Field {
        Field {
            minimum: Some(minimum),
            ..self
        }
    }

    pub fn maximum(self, maximum: f64) -> Field {
        Field {
            maximum: Some(maximum),
            ..self
        }
    }

    /// No two rows may hold the same value; a unique index on the column, which the table's
    /// migration creates, enforces it (see [`Unique`]).
    pub fn unique(self) -> Field {
        Field {
            unique: Some(Unique::Exact),
            ..self
        }
    }

    /// No two rows may hold values that differ only in case; a unique index on
    /// `lower(column)`, which the table's migration creates, enforces it (see [`Unique`]).
    pub fn unique_ignoring_case(self) -> Field {
        Field {
            unique: Some(Unique::IgnoringCase),
            ..self
        }
    }

    pub fn example(self, value: impl Into<Value>) -> Field {
        Field {
            example: Some(value.into()),
            ..self
        }
    }

    pub fn help_text(self, text: &'static str) -> Field {
        Field {
            help_text: Some(text),
            ..self
        }
    }

    pub fn writable(&self) -> bool {
        self.access == Access::ReadWrite
    }

    pub fn shown(&self) -> bool {
        self.access != Access::Hidden
    }

    /// Must a full write (create, replace) carry it? Not when it has a default or may be
    /// null, as in DRF.
    pub fn required(&self) -> bool {
        self.writable() && self.default.is_none() && !self.nullable
    }

    /// The uniqueness rule in words, for documentation.
    pub fn unique_note(&self) -> Option<&'static str> {
        self.unique.map(|unique| match unique {
            Unique::Exact => "Unique: a value another row already has is refused with a 400.",
            Unique::IgnoringCase => {
                "Unique, ignoring case: a value another row already has, in any case, is \
                 refused with a 400."
            }
        })
    }

    /// Text that must not be empty: at least this many characters after trimming.
    pub fn min_chars(&self) -> Option<u64> {
        match (self.kind, self.allow_blank) {
            (FieldKind::Text, false) => Some(self.min_length.unwrap_or(1).max(1)),
            _ => self.min_length,
        }
    }

    /// The value as stored (strings trimmed, as DRF's `trim_whitespace`), or DRF's message.
    pub fn clean(&self, value: Value) -> Result<Value, String> {
        match (self.kind, value) {
            (_, Value::Null) if self.nullable => Ok(Value::Null),
            (_, Value::Null) => Err("This field may not be null.".into()),
            (FieldKind::Integer, Value::Number(n)) if self.related.is_some() && n.is_i64() => {
                Ok(Value::Number(n))
            }
            (FieldKind::Text, Value::String(text)) if self.related.is_some() => {
                Ok(Value::String(text))
            }
            (FieldKind::Integer, Value::Number(n)) if self.related.is_some() && n.is_u64() => {
                Err(invalid_pk(&n.to_string()))
            }
            (FieldKind::Integer | FieldKind::Text, other) if self.related.is_some() => {
                Err(format!(
                    "Incorrect type. Expected pk value, received {}.",
                    python_type(&other)
                ))
            }
            (FieldKind::Text, Value::String(text)) => self.clean_text(text).map(Value::String),
            (FieldKind::Text, _) => Err("Not a valid string.".into()),
            (FieldKind::Integer, Value::Number(n)) if n.is_i64() => {
                self.check_range(n.as_f64().unwrap_or_default())?;
                Ok(Value::Number(n))
            }
            (FieldKind::Integer, Value::Number(n)) if n.is_u64() => Err(format!(
                "Ensure this value is less than or equal to {}.",
                i64::MAX
            )),
            (FieldKind::Integer, _) => Err("A valid integer is required.".into()),
            (FieldKind::Float, Value::Number(n)) => {
                let number = n.as_f64().unwrap_or_default();
                self.check_range(number)?;
                // -0 is stored as 0: the databases would not agree on its sign
                Ok(if number == 0.0 && number.is_sign_negative() {
                    Value::from(0.0)
                } else {
                    Value::Number(n)
                })
            }
            (FieldKind::Float, _) => Err("A valid number is required.".into()),
            (FieldKind::Boolean, Value::Bool(b)) => Ok(Value::Bool(b)),
            (FieldKind::Boolean, _) => Err("Must be a valid boolean.".into()),
            (FieldKind::DateTime, Value::String(text))
                if DateTime::parse_from_rfc3339(text.trim()).is_ok() =>
            {
                Ok(Value::String(text.trim().to_string()))
            }
            (FieldKind::DateTime, _) => Err(
                "Datetime has wrong format. Use one of these formats instead: \
                 YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                    .into(),
            ),
        }
    }

    fn clean_text(&self, text: String) -> Result<String, String> {
        if text.contains('\0') {
            return Err(NULL_CHARACTERS.into());
        }
        // DRF's `trim_whitespace` (Python's `str.strip()`), then the limits on what is kept.
        let trimmed = text.trim_matches(is_space);
        if let Some(max) = self.max_length
            && !trimmed.validate_length(None, Some(max), None)
        {
            return Err(format!(
                "Ensure this field has no more than {max} characters."
            ));
        }
        if let Some(min) = self.min_chars()
            && !trimmed.validate_length(Some(min), None, None)
        {
            return Err(if trimmed.is_empty() {
                "This field may not be blank.".into()
            } else {
                format!("Ensure this field has at least {min} characters.")
            });
        }
        Ok(if trimmed.len() == text.len() {
            text
        } else {
            trimmed.to_string()
        })
    }

    fn check_range(&self, number: f64) -> Result<(), String> {
        if let Some(min) = self.minimum
            && !number.validate_range(Some(min), None, None, None)
        {
            return Err(format!(
                "Ensure this value is greater than or equal to {}.",
                display(min)
            ));
        }
        if let Some(max) = self.maximum
            && !number.validate_range(None, Some(max), None, None)
        {
            return Err(format!(
                "Ensure this value is less than or equal to {}.",
                display(max)
            ));
        }
        Ok(())
    }
}

/// Whitespace as Python's `str.strip()` sees it (DRF trims with it): Unicode's, and the
/// information separators U+001C to U+001F.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// DRF's `PrimaryKeyRelatedField` text for a key no row has.
pub fn invalid_pk(pk: &str) -> String {
    format!("Invalid pk \"{pk}\" - object does not exist.")
}

/// The name Python gives a JSON value's type, as DRF's messages print it.
pub fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `0` rather than `0.0`, as DRF prints a bound.
fn display(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e15 {
        format!("{}", number as i64)
    } else {
        number.to_string()
    }
}

/// Every field of a resource, in the order clients see them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    /// What one row is, for documentation (`An item for sale.`).
    pub description: &'static str,
    /// The primary key's field.
    pub primary_key: &'static str,
    pub fields: Vec<Field>,
}

impl Fields {
    pub fn new(primary_key: &'static str, fields: Vec<Field>) -> Fields {
        Fields {
            description: "",
            primary_key,
            fields,
        }
    }

    pub fn describe(self, description: &'static str) -> Fields {
        Fields {
            description,
            ..self
        }
    }

    /// Changes the rules of the field `name`, e.g. `.field("price", |f| f.minimum(0.0))`.
    ///
    /// # Panics
    /// When there is no such field: a mistake in a resource's declaration, reported when
    /// the resource is registered.
    pub fn field(mut self, name: &str, change: impl FnOnce(Field) -> Field) -> Fields {
        let Some(index) = self.fields.iter().position(|f| f.name == name) else {
            panic!("no field `{name}` to declare rules for");
        };
        let field = self.fields.remove(index);
        self.fields.insert(index, change(field));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn kind_of(&self, name: &str) -> Option<FieldKind> {
        self.get(name).map(|f| f.kind)
    }

    /// The fields clients see.
    pub fn shown(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.shown())
    }

    /// The fields clients write.
    pub fn writable(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.writable())
    }

    /// Checks a request body field by field and reports every problem at once, keyed by
    /// field: unknown fields are refused, read-only ones ignored. A full write (`partial`
    /// false) needs every required field and gets the defaults of those it omits. Returns
    /// the writable fields' clean values, keyed by column.
    pub fn check(
        &self,
        body: Map<String, Value>,
        partial: bool,
    ) -> Result<Map<String, Value>, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut clean = Map::new();
        for (name, value) in body {
            match self.get(&name) {
                Some(field) if field.writable() => match field.clean(value) {
                    Ok(value) => {
                        clean.insert(field.column.to_string(), value);
                    }
                    Err(message) => errors.add(name, message),
                },
                Some(field) if field.shown() => {}
                _ => errors.add(name, "Unknown field."),
            }
        }
        if !partial {
            for field in self.writable() {
                if clean.contains_key(field.column) || errors.contains(field.name) {
                    continue;
                }
                match &field.default {
                    Some(default) => {
                        clean.insert(field.column.to_string(), default.clone());
                    }
                    None if field.nullable => {
                        clean.insert(field.column.to_string(), Value::Null);
                    }
                    None => errors.add(field.name, "This field is required."),
                }
            }
        }
        errors.into_result(clean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Fields {
        Fields::new(
            "id",
            vec![
                Field::new("id", FieldKind::Integer).read_only(),
                Field::new("name", FieldKind::Text).max_length(5),
                Field::new("note", FieldKind::Text).allow_blank().nullable(),
                Field::new("price", FieldKind::Float).minimum(0.0),
                Field::new("count", FieldKind::Integer).maximum(10.0),
                Field::new("on", FieldKind::Boolean).default(true),
                Field::new("version", FieldKind::Integer).hidden(),
            ],
        )
    }

    fn errors(body: Value, partial: bool) -> FieldErrors {
        let Value::Object(body) = body else { panic!() };
        fields().check(body, partial).unwrap_err()
    }

    #[test]
    fn negative_zero_is_stored_as_zero() {
        let price = Field::new("price", FieldKind::Float).minimum(0.0);
        let cleaned = price.clean(serde_json::from_str("-0").unwrap()).unwrap();
        assert_eq!(cleaned.as_f64().map(f64::is_sign_negative), Some(false));
        assert_eq!(price.clean(json!(-0.0)), Ok(json!(0.0)));
        assert_eq!(price.clean(json!(2.5)), Ok(json!(2.5)));
    }

    #[test]
    fn a_full_write_gets_defaults_and_nulls_and_trimmed_strings() {
        let Value::Object(body) = json!({"id": 7, "name": " ab ", "price": 1, "count": 3}) else {
            panic!()
        };
        let clean = fields().check(body, false).unwrap();
        assert_eq!(
            Value::Object(clean),
            json!({"name": "ab", "note": null, "price": 1, "count": 3, "on": true})
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_in_drf_words() {
        let e = errors(
            json!({"name": "   ", "price": -0.5, "count": 11, "on": "yes", "version": 2, "x": 1}),
            false,
        );
        assert_eq!(e.get("name").unwrap(), ["This field may not be blank."]);
        assert_eq!(
            e.get("price").unwrap(),
            ["Ensure this value is greater than or equal to 0."]
        );
        assert_eq!(
            e.get("count").unwrap(),
            ["Ensure this value is less than or equal to 10."]
        );
        assert_eq!(e.get("on").unwrap(), ["Must be a valid boolean."]);
        assert_eq!(e.get("version").unwrap(), ["Unknown field."]);
        assert_eq!(e.get("x").unwrap(), ["Unknown field."]);
        let e = errors(json!({}), false);
        assert_eq!(e.get("name").unwrap(), ["This field is required."]);
        assert!(!e.contains("note") && !e.contains("on"));
    }

    #[test]
    fn types_are_strict_and_null_only_where_nullable() {
        let e = errors(
            json!({"name": 1, "price": "1", "count": 1.5, "note": 2}),
            true,
        );
        assert_eq!(e.get("name").unwrap(), ["Not a valid string."]);
        assert_eq!(e.get("price").unwrap(), ["A valid number is required."]);
        assert_eq!(e.get("count").unwrap(), ["A valid integer is required."]);
        assert_eq!(e.get("note").unwrap(), ["Not a valid string."]);
        let e = errors(json!({"name": null}), true);
        assert_eq!(e.get("name").unwrap(), ["This field may not be null."]);
        let Value::Object(body) = json!({"note": null}) else {
            panic!()
        };
        assert!(fields().check(body, true).is_ok());
    }

    #[test]
    fn lengths_count_characters_of_the_trimmed_string() {
        let field = Field::new("name", FieldKind::Text).max_length(3);
        assert_eq!(field.clean(json!("ééé")), Ok(json!("ééé")));
        assert_eq!(field.clean(json!(" abc\n\u{3000}")), Ok(json!("abc")));
        assert!(field.clean(json!(" abcd ")).is_err());
        // Python's `strip()` also takes the information separators.
        assert_eq!(field.clean(json!("\u{1c}ab\u{1f}")), Ok(json!("ab")));
        assert_eq!(
            Field::new("name", FieldKind::Text).clean(json!("\u{1d}\u{1e}")),
            Err("This field may not be blank.".into())
        );
        assert_eq!(
            field.clean(json!("a\u{0}")),
            Err(NULL_CHARACTERS.to_string())
        );
        let field = Field::new("code", FieldKind::Text).min_length(2);
        assert_eq!(
            field.clean(json!(" a ")),
            Err("Ensure this field has at least 2 characters.".into())
        );
    }

    #[test]
    #[should_panic(expected = "no field `nmae`")]
    fn declaring_rules_for_a_missing_field_is_caught() {
        let _ = fields().field("nmae", |f| f.max_length(1));
    }
}
