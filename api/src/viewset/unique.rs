//! DRF's `UniqueValidator`, enforced by the database: a write that a unique index refuses is
//! answered as a 400 on the unique field (`{"name": ["category with this name already
//! exists."]}`), never a 409 or a 500. No read before the write: the index decides, so two
//! concurrent writes of the same value cannot both succeed, and the refused one stores nothing.
//!
//! The field is the unique one (`Field::unique`) whose name appears in the name of the index
//! the database reports (the longest such name, so `display_name` wins over `name`); a
//! violation naming none of them stays a 409.

use domain::FieldErrors;
use domain::fields::{Field, Fields, Unique};
use infrastructure::repository::{Repository, Table};
use sea_orm::Condition;
use serde_json::{Map, Value as Json};

use super::Ctx;
use super::metadata::label;
use super::relations::verbose_name;
use super::resource::Resource;
use crate::error::ApiError;

/// Turns a unique violation of one of `R`'s unique fields into that field's error; any
/// other error passes unchanged. For `.map_err` on a write hook's result.
pub(super) fn field_error<'a, R: Resource>(
    ctx: &Ctx<'a>,
) -> impl FnOnce(ApiError) -> ApiError + 'a {
    let fields = ctx.fields();
    move |error| match error {
        ApiError::Unique(violated) => match violated_field(fields, &violated) {
            Some(field) => ApiError::Validation(FieldErrors::single(
                field.name,
                message(R::NAME, field.name),
            )),
            None => ApiError::Unique(violated),
        },
        other => other,
    }
}

/// A body refused for other reasons: as DRF's `UniqueValidator` runs beside the other
/// validators, a unique value another row (not `except`) holds is reported with them. Only on
/// this error path (the body, already parsed once, is read again here): a valid write is one
/// statement, and the unique index decides it.
pub(super) async fn with_taken<R: Resource>(
    ctx: &Ctx<'_>,
    mut errors: FieldErrors,
    body: &[u8],
    except: Option<<R::Entity as Table>::Key>,
) -> ApiError {
    let Ok(body) = serde_json::from_slice::<Map<String, Json>>(body) else {
        return ApiError::Validation(errors);
    };
    let everywhere = Repository::<R::Entity>::new(ctx.db(), Condition::all());
    for field in ctx.fields().fields.iter().filter(|f| f.unique.is_some()) {
        if errors.contains(field.name) {
            continue;
        }
        // The value as it would be stored (trimmed), if the field itself is valid.
        let Some(Ok(Json::String(value))) = body.get(field.name).map(|v| field.clean(v.clone()))
        else {
            continue;
        };
        let ignoring_case = field.unique == Some(Unique::IgnoringCase);
        match everywhere
            .holds(field.column, &value, ignoring_case, except.clone())
            .await
        {
            Ok(true) => errors.add(field.name, message(R::NAME, field.name)),
            Ok(false) => {}
            Err(error) => return error.into(),
        }
    }
    ApiError::Validation(errors)
}

/// The unique field the violated index or constraint is about.
fn violated_field<'f>(fields: &'f Fields, violated: &str) -> Option<&'f Field> {
    fields
        .fields
        .iter()
        .filter(|f| f.unique.is_some() && violated.contains(f.name))
        .max_by_key(|f| f.name.len())
}

/// DRF's text: `<model's verbose name> with this <field's verbose name> already exists.`
fn message(resource: &str, field: &str) -> String {
    format!(
        "{} with this {} already exists.",
        verbose_name(resource),
        label(field).to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::query::FieldKind;

    fn fields() -> Fields {
        Fields::new(
            "id",
            vec![
                Field::new("id", FieldKind::Integer).read_only(),
                Field::new("name", FieldKind::Text).unique_ignoring_case(),
                Field::new("display_name", FieldKind::Text).unique(),
                Field::new("code", FieldKind::Text),
            ],
        )
    }

    #[test]
    fn the_field_is_found_in_the_index_name() {
        let fields = fields();
        let found = |violated: &str| violated_field(&fields, violated).map(|f| f.name);
        assert_eq!(found("idx_categories_name_lower"), Some("name"));
        assert_eq!(found("categories.name"), Some("name"));
        assert_eq!(found("idx_things_display_name"), Some("display_name"));
        assert_eq!(found("idx_things_code"), None, "code is not unique");
        assert_eq!(found("items_pkey"), None);
    }

    #[test]
    fn messages_are_drf_texts() {
        assert_eq!(
            message("Category", "name"),
            "category with this name already exists."
        );
        assert_eq!(
            message("BookAuthor", "display_name"),
            "book author with this display name already exists."
        );
    }
}
