//! Field errors in Django REST Framework's shape: `{"field": ["message", ...]}`.

use std::collections::BTreeMap;

use serde::Serialize;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

/// Messages keyed by the field (or query parameter) they are about.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }

    /// `Ok(value)` when there are no errors.
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<ValidationErrors> for FieldErrors {
    /// Turns `validator` output into DRF's messages, so clients of DRF see familiar text.
    fn from(errors: ValidationErrors) -> Self {
        let mut out = FieldErrors::new();
        for (field, kind) in errors.into_errors() {
            if let ValidationErrorsKind::Field(list) = kind {
                for error in &list {
                    out.add(field.to_string(), drf_message(error));
                }
            }
        }
        out
    }
}

fn drf_message(error: &ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(display_number);
    match error.code.as_ref() {
        "length" => {
            let len = error
                .params
                .get("value")
                .and_then(|v| v.as_str())
                .map(|s| s.chars().count());
            match (param("min"), param("max")) {
                (Some(_), _) if len == Some(0) => "This field may not be blank.".into(),
                (Some(min), _) if len.is_some_and(|l| min.parse().is_ok_and(|m: usize| l < m)) => {
                    format!("Ensure this field has at least {min} characters.")
                }
                (_, Some(max)) => format!("Ensure this field has no more than {max} characters."),
                _ => "Invalid length.".into(),
            }
        }
        "range" => {
            let value = error.params.get("value").and_then(|v| v.as_f64());
            match (param("min"), param("max")) {
                (Some(min), _) if value.is_some_and(|v| min.parse().is_ok_and(|m: f64| v < m)) => {
                    format!("Ensure this value is greater than or equal to {min}.")
                }
                (_, Some(max)) => format!("Ensure this value is less than or equal to {max}."),
                _ => "Value out of range.".into(),
            }
        }
        code => format!("Invalid value ({code})."),
    }
}

/// `0.0` reads as `0`, as DRF writes its limits.
fn display_number(value: &serde_json::Value) -> String {
    match value.as_f64() {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator::Validate;

    #[derive(Validate)]
    struct Sample {
        #[validate(length(min = 1, max = 3))]
        name: String,
        #[validate(range(min = 0.0))]
        price: f64,
    }

    fn errors_of(sample: Sample) -> FieldErrors {
        sample
            .validate()
            .map(|_| FieldErrors::new())
            .unwrap_or_else(FieldErrors::from)
    }

    #[test]
    fn blank_long_and_negative_values_get_drf_messages() {
        let blank = errors_of(Sample {
            name: String::new(),
            price: -1.0,
        });
        assert_eq!(blank.get("name").unwrap(), ["This field may not be blank."]);
        assert_eq!(
            blank.get("price").unwrap(),
            ["Ensure this value is greater than or equal to 0."]
        );
        let long = errors_of(Sample {
            name: "abcd".into(),
            price: 0.0,
        });
        assert_eq!(
            long.get("name").unwrap(),
            ["Ensure this field has no more than 3 characters."]
        );
        assert!(
            errors_of(Sample {
                name: "abc".into(),
                price: 0.0
            })
            .is_empty()
        );
    }

    #[test]
    fn serializes_as_a_map_of_lists() {
        let mut errors = FieldErrors::single("name", "This field is required.");
        errors.add("name", "again");
        let json = serde_json::to_value(&errors).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": ["This field is required.", "again"]})
        );
    }
}
