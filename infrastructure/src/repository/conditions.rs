//! Turning a checked [`ListParams`] into SeaORM conditions. Field names reach this module
//! only after the API layer matched them against the resource's declarations; they are
//! mapped to the entity's columns here and every value is bound as a parameter.

use std::str::FromStr;

use domain::query::{Filter, ListParams, Lookup, OrderBy, QuerySpec, Value};
use sea_orm::sea_query::{Expr, Func, LikeExpr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, ExprTrait, IdenStatic, ModelTrait};

use crate::PersistenceError;

fn column<E: EntityTrait>(field: &str) -> Result<E::Column, PersistenceError> {
    E::Column::from_str(field).map_err(|_| {
        PersistenceError::Unexpected(format!(
            "no column `{field}` in `{}`",
            E::default().table_name()
        ))
    })
}

/// Every field the spec declares is a column of `E`: checked when a resource is registered.
pub fn check_columns<E: EntityTrait>(spec: &QuerySpec) -> Result<(), String> {
    spec.check()?;
    for (field, _) in &spec.fields {
        column::<E>(field).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn db_value(value: &Value) -> sea_orm::Value {
    match value {
        Value::Integer(v) => (*v).into(),
        Value::Float(v) => (*v).into(),
        Value::Boolean(v) => (*v).into(),
        Value::Text(v) => v.as_str().into(),
        Value::DateTime(v) => (*v).into(),
    }
}

/// A lower-cased LIKE pattern in which `%`, `_` and `\` of a client's text match themselves.
fn pattern(text: &str, prefix_only: bool) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    if prefix_only {
        format!("{escaped}%")
    } else {
        format!("%{escaped}%")
    }
}

/// Case-insensitive match on both databases: `lower(column) LIKE lower(text)`.
fn ilike<E: EntityTrait>(column: E::Column, text: &str, prefix_only: bool) -> SimpleExpr {
    Expr::expr(Func::lower(column.into_expr()))
        .like(LikeExpr::new(pattern(text, prefix_only)).escape('\\'))
}

fn filter<E: EntityTrait>(filter: &Filter) -> Result<SimpleExpr, PersistenceError> {
    let col = column::<E>(filter.field)?;
    let first = || {
        filter
            .values
            .first()
            .map(db_value)
            .unwrap_or(sea_orm::Value::Bool(None))
    };
    let text = || match filter.values.first() {
        Some(Value::Text(text)) => text.as_str(),
        _ => "",
    };
    Ok(match filter.lookup {
        Lookup::Exact => col.eq(first()),
        Lookup::In => col.is_in(filter.values.iter().map(db_value)),
        Lookup::Gt => col.gt(first()),
        Lookup::Gte => col.gte(first()),
        Lookup::Lt => col.lt(first()),
        Lookup::Lte => col.lte(first()),
        Lookup::IContains => ilike::<E>(col, text(), false),
        Lookup::IStartsWith => ilike::<E>(col, text(), true),
    })
}

/// Filters AND search: every filter holds, and every search term is found in some
/// search field.
pub fn filters<E: EntityTrait>(
    spec: &QuerySpec,
    params: &ListParams,
) -> Result<Condition, PersistenceError> {
    let mut all = Condition::all();
    for f in &params.filters {
        all = all.add(filter::<E>(f)?);
    }
    for term in &params.search {
        let mut any = Condition::any();
        for field in spec.search {
            any = any.add(ilike::<E>(column::<E>(field)?, term, false));
        }
        all = all.add(any);
    }
    Ok(all)
}

/// Ordering fields as columns, with their direction (`true`: descending).
pub fn ordering<E: EntityTrait>(
    ordering: &[OrderBy],
) -> Result<Vec<(E::Column, bool)>, PersistenceError> {
    ordering
        .iter()
        .map(|o| Ok((column::<E>(o.field)?, o.descending)))
        .collect()
}

/// Rows strictly after (or, with `before`, strictly before) `position` in `ordering`:
/// `(a > x) OR (a = x AND b > y) OR ...`, each comparison flipped for descending fields,
/// behind a leading `a >= x` that lets the database walk an index on `a`.
pub fn keyset<E: EntityTrait>(
    ordering: &[(E::Column, bool)],
    position: &[Value],
    before: bool,
) -> Condition {
    let mut any = Condition::any();
    for (i, ((col, descending), value)) in ordering.iter().zip(position).enumerate() {
        let mut all = Condition::all();
        for ((prev, _), prev_value) in ordering.iter().zip(position).take(i) {
            all = all.add(prev.eq(db_value(prev_value)));
        }
        let upward = *descending == before;
        all = all.add(if upward {
            col.gt(db_value(value))
        } else {
            col.lt(db_value(value))
        });
        any = any.add(all);
    }
    let mut condition = Condition::all();
    if let (Some((col, descending)), Some(value)) = (ordering.first(), position.first()) {
        let upward = *descending == before;
        condition = condition.add(if upward {
            col.gte(db_value(value))
        } else {
            col.lte(db_value(value))
        });
    }
    condition.add(any)
}

/// The values of `model` in the ordering's fields: where a cursor points.
pub fn position<E: EntityTrait>(
    model: &E::Model,
    ordering: &[(E::Column, bool)],
) -> Result<Vec<Value>, PersistenceError> {
    ordering
        .iter()
        .map(|(col, _)| {
            let value = model.get(*col);
            domain_value(value).ok_or_else(|| {
                PersistenceError::Unexpected(format!(
                    "column `{}` cannot be used in a cursor",
                    col.as_str()
                ))
            })
        })
        .collect()
}

fn domain_value(value: sea_orm::Value) -> Option<Value> {
    use sea_orm::Value as V;
    Some(match value {
        V::BigInt(v) => Value::Integer(v?),
        V::Int(v) => Value::Integer(i64::from(v?)),
        V::SmallInt(v) => Value::Integer(i64::from(v?)),
        V::Double(v) => Value::Float(v?),
        V::Float(v) => Value::Float(f64::from(v?)),
        V::Bool(v) => Value::Boolean(v?),
        V::String(v) => Value::Text(v?),
        V::ChronoDateTimeUtc(v) => Value::DateTime(v?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(pattern("50%_OFF\\", false), "%50\\%\\_off\\\\%");
        assert_eq!(pattern("Ab", true), "ab%");
    }
}
