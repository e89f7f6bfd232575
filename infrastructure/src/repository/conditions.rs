//! Turning a checked [`ListParams`] into SeaORM conditions. Field names reach this module
//! only after the API layer matched them against the resource's declarations; they are
//! mapped to the entity's columns here and every value is bound as a parameter.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::query::{FieldKind, Filter, ListParams, Lookup, OrderBy, QuerySpec, Value};
use sea_orm::sea_query::{Alias, BinOper, Expr, Func, JoinType, NullOrdering, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, ExprTrait, IdenStatic, ModelTrait, QueryOrder,
    QueryResult, QueryTrait, Select,
};

use crate::PersistenceError;

fn column<E: EntityTrait>(field: &str) -> Result<E::Column, PersistenceError> {
    E::Column::from_str(field).map_err(|_| {
        PersistenceError::Unexpected(format!(
            "no column `{field}` in `{}`",
            E::default().table_name()
        ))
    })
}

/// The column of the resource's field `name` (a relation's field names its key column).
fn own_column<E: EntityTrait>(spec: &QuerySpec, name: &str) -> Result<E::Column, PersistenceError> {
    column::<E>(spec.column_of(name))
}

/// Every field the spec declares is a column of `E`: checked when a resource is registered.
pub fn check_columns<E: EntityTrait>(spec: &QuerySpec) -> Result<(), String> {
    spec.check()?;
    for (field, _) in &spec.fields {
        own_column::<E>(spec, field).map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub(super) fn db_value(value: &Value) -> sea_orm::Value {
    match value {
        Value::Integer(v) => (*v).into(),
        Value::Float(v) => (*v).into(),
        Value::Boolean(v) => (*v).into(),
        Value::Text(v) => v.as_str().into(),
        Value::DateTime(v) => (*v).into(),
        Value::Null => sea_orm::Value::Bool(None),
    }
}

/// A LIKE pattern in which `%`, `_` and `\` of a client's text match themselves.
fn pattern(text: &str, prefix_only: bool) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
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

/// Case-insensitive match: `lower(column) LIKE lower(text) ESCAPE '\'`. Both sides are
/// lower-cased by the database, so a value always matches its own text: PostgreSQL folds
/// every script's case, SQLite's `lower()` only ASCII letters (as Django documents for its
/// SQLite backend).
fn ilike(column: Expr, text: &str, prefix_only: bool) -> Expr {
    let pattern = Expr::Binary(
        Box::new(Func::lower(Expr::val(pattern(text, prefix_only))).into()),
        BinOper::Escape,
        Box::new(Expr::Constant('\\'.into())),
    );
    Expr::expr(Func::lower(column)).binary(BinOper::Like, pattern)
}

/// A column of a table named at run time (a relation's target).
fn named(table: &str, column: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(column)))
}

/// `column <lookup> value`.
fn compare(col: Expr, filter: &Filter) -> Expr {
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
    match filter.lookup {
        Lookup::Exact => col.eq(first()),
        Lookup::In => col.is_in(filter.values.iter().map(db_value)),
        Lookup::Gt => col.gt(first()),
        Lookup::Gte => col.gte(first()),
        Lookup::Lt => col.lt(first()),
        Lookup::Lte => col.lte(first()),
        Lookup::IContains => ilike(col, text(), false),
        Lookup::IStartsWith => ilike(col, text(), true),
        Lookup::IsNull if matches!(filter.values.first(), Some(Value::Boolean(false))) => {
            col.is_not_null()
        }
        Lookup::IsNull => col.is_null(),
    }
}

/// One filter. Through a relation it is a semi-join, which both databases plan well:
/// `category_id IN (SELECT id FROM categories WHERE lower(name) LIKE ...)`.
fn filter<E: EntityTrait>(spec: &QuerySpec, filter: &Filter) -> Result<Expr, PersistenceError> {
    let Some(via) = filter.via else {
        return Ok(compare(
            own_column::<E>(spec, filter.field)?.into_expr(),
            filter,
        ));
    };
    let relation = spec
        .relation(via)
        .ok_or_else(|| PersistenceError::Unexpected(format!("no relation `{via}`")))?;
    let mut targets = Query::select();
    targets
        .column((
            Alias::new(relation.table),
            Alias::new(relation.target.primary_key),
        ))
        .from(Alias::new(relation.table))
        .and_where(compare(named(relation.table, filter.field), filter));
    Ok(column::<E>(relation.column)?
        .into_expr()
        .in_subquery(targets))
}

/// Filters AND search: every filter holds, and every search term is found in some
/// search field.
pub fn filters<E: EntityTrait>(
    spec: &QuerySpec,
    params: &ListParams,
) -> Result<Condition, PersistenceError> {
    let mut all = Condition::all();
    for f in &params.filters {
        all = all.add(filter::<E>(spec, f)?);
    }
    for term in &params.search {
        let mut any = Condition::any();
        for field in spec.search {
            any = any.add(ilike(
                own_column::<E>(spec, field)?.into_expr(),
                term,
                false,
            ));
        }
        all = all.add(any);
    }
    Ok(all)
}

/// One key of an ordering, as an expression of the (joined) query.
#[derive(Clone)]
pub struct OrderKey<E: EntityTrait> {
    pub expr: Expr,
    pub descending: bool,
    /// May be null (a relation's target field): nulls sort as if greater than any value.
    pub nullable: bool,
    /// The resource's own column, whose value the row holds; `None` for a target's field,
    /// which the query selects as an extra column.
    pub column: Option<E::Column>,
    /// For a target's field: its kind, to read the extra column back.
    pub kind: FieldKind,
}

/// A relation a query joins to order by its target's fields.
pub struct Join {
    pub table: &'static str,
    pub alias: String,
    pub key: &'static str,
    pub column: &'static str,
}

/// The alias a joined relation's target takes in a query.
fn alias(relation: &str) -> String {
    format!("rel_{relation}")
}

/// Ordering fields as expressions with their direction, and the relations to join.
pub fn ordering<E: EntityTrait>(
    spec: &QuerySpec,
    ordering: &[OrderBy],
) -> Result<(Vec<OrderKey<E>>, Vec<Join>), PersistenceError> {
    let mut keys = Vec::with_capacity(ordering.len());
    let mut joins: Vec<Join> = Vec::new();
    for order in ordering {
        let Some(via) = order.via else {
            let col = own_column::<E>(spec, order.field)?;
            keys.push(OrderKey {
                expr: col.into_expr(),
                descending: order.descending,
                nullable: false,
                column: Some(col),
                kind: spec.kind_of(order.field).unwrap_or(FieldKind::Text),
            });
            continue;
        };
        let relation = spec
            .relation(via)
            .ok_or_else(|| PersistenceError::Unexpected(format!("no relation `{via}`")))?;
        let alias = alias(relation.name);
        keys.push(OrderKey {
            expr: named(&alias, order.field),
            descending: order.descending,
            nullable: true,
            column: None,
            kind: relation
                .target
                .kind_of(order.field)
                .unwrap_or(FieldKind::Text),
        });
        if !joins.iter().any(|j| j.alias == alias) {
            joins.push(Join {
                table: relation.table,
                alias,
                key: relation.target.primary_key,
                column: relation.column,
            });
        }
    }
    Ok((keys, joins))
}

/// Adds the `LEFT JOIN`s an ordering needs.
pub fn join<E: EntityTrait>(mut select: Select<E>, joins: &[Join]) -> Select<E> {
    for join in joins {
        let on = named(&join.alias, join.key).equals((
            Alias::new(E::default().table_name()),
            Alias::new(join.column),
        ));
        QueryTrait::query(&mut select).join_as(
            JoinType::LeftJoin,
            Alias::new(join.table),
            Alias::new(join.alias.as_str()),
            on,
        );
    }
    select
}

/// Orders `select` by `keys`, reversed when `reverse`; rows without a value sort last in
/// ascending order and first in descending order, on both databases.
pub fn order<E: EntityTrait>(
    mut select: Select<E>,
    keys: &[OrderKey<E>],
    reverse: bool,
) -> Select<E> {
    for key in keys {
        let descending = key.descending != reverse;
        let direction = if descending {
            sea_orm::Order::Desc
        } else {
            sea_orm::Order::Asc
        };
        select = if key.nullable {
            let nulls = if descending {
                NullOrdering::First
            } else {
                NullOrdering::Last
            };
            select.order_by_with_nulls(key.expr.clone(), direction, nulls)
        } else {
            select.order_by(key.expr.clone(), direction)
        };
    }
    select
}

/// `key = value`, where a null value is `key IS NULL`.
fn equals(key: &Expr, value: &Value) -> Expr {
    match value {
        Value::Null => key.clone().is_null(),
        value => key.clone().eq(db_value(value)),
    }
}

/// Rows after `value` in the direction walked (`upward`: ascending), nulls counting as
/// greater than every value; `None` when no row can be.
fn beyond(key: &Expr, nullable: bool, value: &Value, upward: bool) -> Option<Expr> {
    Some(match (value, upward) {
        (Value::Null, true) => return None,
        (Value::Null, false) => key.clone().is_not_null(),
        (value, true) if nullable => key.clone().gt(db_value(value)).or(key.clone().is_null()),
        (value, true) => key.clone().gt(db_value(value)),
        (value, false) => key.clone().lt(db_value(value)),
    })
}

/// Rows strictly after (or, with `before`, strictly before) `position` in `ordering`:
/// `(a > x) OR (a = x AND b > y) OR ...`, each comparison flipped for descending fields,
/// behind a leading `a >= x` that lets the database walk an index on `a`. Null positions
/// (rows without a target) take part like any value, so pages stay exact.
pub fn keyset<E: EntityTrait>(keys: &[OrderKey<E>], position: &[Value], before: bool) -> Condition {
    let mut any = Condition::any();
    for (i, (key, value)) in keys.iter().zip(position).enumerate() {
        let upward = key.descending == before;
        let Some(step) = beyond(&key.expr, key.nullable, value, upward) else {
            continue;
        };
        let mut all = Condition::all();
        for (prev, prev_value) in keys.iter().zip(position).take(i) {
            all = all.add(equals(&prev.expr, prev_value));
        }
        any = any.add(all.add(step));
    }
    let mut condition = Condition::all();
    if let (Some(key), Some(value)) = (keys.first(), position.first())
        && !key.nullable
    {
        let upward = key.descending == before;
        condition = condition.add(if upward {
            key.expr.clone().gte(db_value(value))
        } else {
            key.expr.clone().lte(db_value(value))
        });
    }
    condition.add(any)
}

/// The name of the extra column that carries the `i`th ordering key of a row.
pub fn position_alias(i: usize) -> String {
    format!("__position_{i}")
}

/// Where a cursor points: the values of a row in the ordering's keys, from the row itself
/// or, for a target's fields, from the extra columns the query selected.
pub fn position<E: EntityTrait>(
    model: &E::Model,
    row: &QueryResult,
    keys: &[OrderKey<E>],
) -> Result<Vec<Value>, PersistenceError> {
    keys.iter()
        .enumerate()
        .map(|(i, key)| match key.column {
            Some(col) => domain_value(model.get(col)).ok_or_else(|| {
                PersistenceError::Unexpected(format!(
                    "column `{}` cannot be used in a cursor",
                    col.as_str()
                ))
            }),
            None => extra_value(row, &position_alias(i), key.kind),
        })
        .collect()
}

fn extra_value(row: &QueryResult, alias: &str, kind: FieldKind) -> Result<Value, PersistenceError> {
    let value = match kind {
        FieldKind::Integer => row.try_get::<Option<i64>>("", alias)?.map(Value::Integer),
        FieldKind::Float => row.try_get::<Option<f64>>("", alias)?.map(Value::Float),
        FieldKind::Boolean => row.try_get::<Option<bool>>("", alias)?.map(Value::Boolean),
        FieldKind::Text => row.try_get::<Option<String>>("", alias)?.map(Value::Text),
        FieldKind::DateTime => row
            .try_get::<Option<DateTime<Utc>>>("", alias)?
            .map(Value::DateTime),
    };
    Ok(value.unwrap_or(Value::Null))
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
        assert_eq!(pattern("50%_OFF\\", false), "%50\\%\\_OFF\\\\%");
        assert_eq!(pattern("Ab", true), "Ab%", "the database lower-cases it");
    }
}
