//! One repository for every entity: get, insert, compare-and-set update and delete, and
//! lists with filters, search, ordering and the three paginations. Each operation is a
//! single statement (a counted page carries its `COUNT` as a scalar subquery), so
//! concurrent writers cannot lose updates and no request does per-row work.

mod conditions;
mod statements;

use std::marker::PhantomData;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use domain::query::{CountMode, Cursor, ListParams, Pagination, QuerySpec, Value};
use sea_orm::sea_query::{Asterisk, Expr, Func, IntoValueTuple, Query, ReturningClause};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend,
    DbBackend, DbErr, EntityTrait, ExprTrait, FromQueryResult, IntoActiveModel, Iterable,
    ModelTrait, PaginatorTrait, PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, SelectModel, SelectorRaw, Statement,
};
use tracing::instrument;

use crate::PersistenceError;
use crate::database::{Conn, Db};

pub use conditions::check_columns;

/// What the repository needs to know about a table beyond SeaORM's traits.
pub trait Table: EntityTrait {
    /// The primary key as it appears in URLs (parsed from the path, printed in `Location`).
    type Key: FromStr + std::fmt::Display + Clone + Into<Id<Self>>;

    /// The key of a row.
    fn key(model: &Self::Model) -> Self::Key;

    /// The row-version column that every write bumps: ETags and compare-and-set updates.
    fn version_column() -> Option<Self::Column> {
        None
    }
}

/// Column values for a new row, from a create payload.
pub trait IntoInsert<E: EntityTrait> {
    fn into_insert(self, now: DateTime<Utc>) -> E::ActiveModel;
}

/// Column values a replace or patch payload changes; unset columns are left alone.
pub trait IntoUpdate<E: EntityTrait> {
    fn into_update(self, now: DateTime<Utc>) -> E::ActiveModel;
}

/// The primary key type of an entity.
pub type Id<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// The outcome of a conditional write.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    NotFound,
    /// The row exists but its version is not the expected one.
    VersionMismatch,
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<M> {
    pub rows: Vec<M>,
    /// `None` for cursor pages and `count=none`.
    pub count: Option<u64>,
    pub has_next: bool,
    pub has_previous: bool,
    /// Cursor pages: the ordering values of the first and last rows.
    pub first: Option<Vec<Value>>,
    pub last: Option<Vec<Value>>,
}

/// The repository of entity `E`, limited to the rows `scope` lets the caller see.
pub struct Repository<'a, E> {
    db: &'a Db,
    scope: Condition,
    entity: PhantomData<E>,
}

/// Timestamps at the precision both databases store, so what a write returns is what a
/// later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl<'a, E> Repository<'a, E>
where
    E: Table,
    E::Model: Sync,
{
    pub fn new(db: &'a Db, scope: Condition) -> Self {
        Self {
            db,
            scope,
            entity: PhantomData,
        }
    }

    fn by_id(&self, key: E::Key) -> Condition {
        let id: Id<E> = key.into();
        let mut condition = Condition::all();
        for (column, value) in E::PrimaryKey::iter().zip(id.into_value_tuple()) {
            condition = condition.add(column.into_column().eq(value));
        }
        condition.add(self.scope.clone())
    }

    #[instrument(level = "debug", skip_all)]
    pub async fn get(&self, key: E::Key) -> Result<Option<E::Model>, PersistenceError> {
        if self.scope.is_empty() {
            // The hot path: the same statement every time but for the key.
            let bound = self.key_and_versions(&key, None).collect();
            let statement = self.statement("get", 0, bound, |_| {
                Ok(E::find()
                    .filter(self.by_id(key.clone()))
                    .build(self.backend()))
            })?;
            return self.fetch_one(statement).await;
        }
        let conn = self.db.conn().await?;
        let row = E::find().filter(self.by_id(key)).one(&conn).await;
        self.db.release(conn);
        Ok(row?)
    }

    #[instrument(level = "debug", skip_all)]
    pub async fn insert(&self, mut values: E::ActiveModel) -> Result<E::Model, PersistenceError>
    where
        E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        if !self.cacheable() {
            let conn = self.db.conn().await?;
            let row = E::insert(values).exec_with_returning(&conn).await;
            self.db.release(conn);
            return Ok(row?);
        }
        let (shape, bound) = take_bound(&mut values, true);
        let statement = self.statement("insert", shape, bound, |bound| {
            let mut insert = E::insert(rebuild::<E::ActiveModel>(shape, bound)?);
            let backend = self.backend();
            let query = QueryTrait::query(&mut insert).returning(returning::<E>(backend));
            Ok(backend.build(query))
        })?;
        self.fetch_one(statement)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("Failed to find inserted item".into()).into())
    }

    /// Updates the row in one statement, bumping its version; with `expected` set, only
    /// if its version is still one of those (compare-and-set).
    #[instrument(level = "debug", skip_all)]
    pub async fn update(
        &self,
        key: E::Key,
        mut values: E::ActiveModel,
        expected: Option<&[i64]>,
    ) -> Result<Written<E::Model>, PersistenceError>
    where
        E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    {
        let version = E::version_column();
        let build = |values: E::ActiveModel| {
            let mut update = E::update_many().set(values).filter(self.by_id(key.clone()));
            if let Some(version) = version {
                update = update.col_expr(version, Expr::col(version).add(VERSION_STEP));
                if let Some(expected) = expected {
                    update = update.filter(version.is_in(expected.iter().copied()));
                }
            }
            update
        };
        let rows = if self.cacheable() && version.is_some() {
            let (mask, mut bound) = take_bound(&mut values, false);
            let set = bound.len();
            bound.push(VERSION_STEP.into());
            bound.extend(self.key_and_versions(&key, expected));
            let shape = mask | versions_shape(expected);
            let statement = self.statement("update", shape, bound, |bound| {
                let mut update = build(rebuild::<E::ActiveModel>(mask, &bound[..set])?);
                let backend = self.backend();
                let query = QueryTrait::query(&mut update).returning(returning::<E>(backend));
                Ok(backend.build(query))
            })?;
            self.fetch_one(statement).await?
        } else {
            let conn = self.db.conn().await?;
            let rows = build(values).exec_with_returning(&conn).await;
            self.db.release(conn);
            rows?.into_iter().next()
        };
        match rows {
            Some(model) => Ok(Written::Done(model)),
            None => self.missing_or_stale(key, expected).await,
        }
    }

    /// Deletes the row; with `expected` set, only at that version.
    #[instrument(level = "debug", skip_all)]
    pub async fn delete(
        &self,
        key: E::Key,
        expected: Option<&[i64]>,
    ) -> Result<Written<()>, PersistenceError> {
        let delete = || {
            let mut delete = E::delete_many().filter(self.by_id(key.clone()));
            if let (Some(version), Some(expected)) = (E::version_column(), expected) {
                delete = delete.filter(version.is_in(expected.iter().copied()));
            }
            delete
        };
        let statement = if self.cacheable() {
            let bound = self.key_and_versions(&key, expected).collect();
            self.statement("delete", versions_shape(expected), bound, |_| {
                Ok(self.backend().build(QueryTrait::query(&mut delete())))
            })?
        } else {
            self.backend().build(QueryTrait::query(&mut delete()))
        };
        let conn = self.db.conn().await?;
        let deleted = conn.execute_raw(statement).await;
        self.db.release(conn);
        if deleted?.rows_affected() > 0 {
            return Ok(Written::Done(()));
        }
        self.missing_or_stale(key, expected).await
    }

    /// Runs a statement that returns at most one row.
    async fn fetch_one(&self, statement: Statement) -> Result<Option<E::Model>, PersistenceError> {
        let conn = self.db.conn().await?;
        let row = SelectorRaw::<SelectModel<E::Model>>::from_statement(statement)
            .one(&conn)
            .await;
        self.db.release(conn);
        Ok(row?)
    }

    fn backend(&self) -> DbBackend {
        self.db.shared().get_database_backend()
    }

    /// Whether writes may take their SQL from the statement cache: not when a scope adds
    /// conditions of its own, nor for tables too wide for a shape's bitmask, nor without
    /// `RETURNING`.
    fn cacheable(&self) -> bool {
        self.scope.is_empty()
            && E::Column::iter().count() <= 32
            && self.backend().support_returning()
    }

    /// The values a statement filtering by key (and versions) binds after its own.
    fn key_and_versions(
        &self,
        key: &E::Key,
        expected: Option<&[i64]>,
    ) -> impl Iterator<Item = sea_orm::Value> {
        let id: Id<E> = key.clone().into();
        id.into_value_tuple()
            .into_iter()
            .chain(expected.unwrap_or_default().iter().map(|&v| v.into()))
    }

    /// A statement of `operation`: its SQL from this worker's cache once its shape is known,
    /// otherwise built by `build` from the values it binds (and cached if it binds exactly
    /// `bound`).
    fn statement(
        &self,
        operation: &'static str,
        shape: u64,
        bound: Vec<sea_orm::Value>,
        build: impl FnOnce(&[sea_orm::Value]) -> Result<Statement, DbErr>,
    ) -> Result<Statement, DbErr> {
        let backend = self.backend();
        if let Some(sql) = statements::lookup::<E>(operation, shape, backend) {
            return Ok(Statement::from_sql_and_values(backend, &*sql, bound));
        }
        let built = build(&bound)?;
        statements::remember::<E>(operation, shape, &built, &bound);
        Ok(built)
    }

    /// After a conditional write matched nothing: was the row absent, or changed?
    async fn missing_or_stale<T>(
        &self,
        key: E::Key,
        expected: Option<&[i64]>,
    ) -> Result<Written<T>, PersistenceError> {
        if expected.is_some() && self.get(key).await?.is_some() {
            Ok(Written::VersionMismatch)
        } else {
            Ok(Written::NotFound)
        }
    }

    /// The version of a row as read, for its ETag.
    pub fn version_of(model: &E::Model) -> Option<i64> {
        match model.get(E::version_column()?) {
            sea_orm::Value::BigInt(v) => v,
            sea_orm::Value::Int(v) => v.map(i64::from),
            _ => None,
        }
    }

    /// One page of the rows matching `params`. Counted pages fetch one row more than the
    /// page to learn whether a next page exists; cursor pages never count.
    #[instrument(level = "debug", skip_all)]
    pub async fn list(
        &self,
        spec: &QuerySpec,
        params: &ListParams,
    ) -> Result<Page<E::Model>, PersistenceError> {
        let conn = self.db.conn().await?;
        let page = self.list_on(&conn, spec, params).await;
        self.db.release(conn);
        page
    }

    async fn list_on(
        &self,
        conn: &Conn<'_>,
        spec: &QuerySpec,
        params: &ListParams,
    ) -> Result<Page<E::Model>, PersistenceError> {
        let filtered = E::find()
            .filter(self.scope.clone())
            .filter(conditions::filters::<E>(spec, params)?);
        let ordering = conditions::ordering::<E>(&params.ordering)?;
        match &params.pagination {
            Pagination::Cursor { size, cursor } => {
                self.cursor_page(conn, filtered, &ordering, *size, cursor.as_ref())
                    .await
            }
            pagination => {
                let (offset, limit) = pagination.offset_limit().unwrap_or((i64::MAX as u64, 0));
                let count = self.count(conn, &filtered, params.count).await?;
                let mut page = filtered.clone();
                for (column, descending) in &ordering {
                    page = page.order_by(*column, order(*descending));
                }
                let page = page.offset(offset).limit(limit + 1);
                let (mut rows, count) = match count {
                    Count::Known(count) => (page.all(conn).await?, count),
                    Count::Inline => {
                        let (rows, count) = Self::counted_page(conn, page, &filtered).await?;
                        match count {
                            Some(count) => (rows, Some(count)),
                            // No row to carry the count: none match, or the page is past
                            // the last one (then it takes a query of its own).
                            None if offset == 0 => (rows, Some(0)),
                            None => (rows, Some(filtered.count(conn).await?)),
                        }
                    }
                };
                let has_next = rows.len() as u64 > limit;
                rows.truncate(limit as usize);
                Ok(Page {
                    rows,
                    count,
                    has_next,
                    has_previous: offset > 0,
                    first: None,
                    last: None,
                })
            }
        }
    }

    /// The page with the count of all matching rows in one round trip: each row carries
    /// `(SELECT COUNT(*) ... same filters)`, which the database evaluates once.
    async fn counted_page(
        conn: &Conn<'_>,
        page: Select<E>,
        filtered: &Select<E>,
    ) -> Result<(Vec<E::Model>, Option<u64>), PersistenceError> {
        let mut count = filtered.clone().into_query();
        count.clear_selects().expr(Func::count(Expr::col(Asterisk)));
        let page = page.expr_as(Expr::SubQuery(None, Box::new(count.into())), COUNT_ALIAS);
        let rows = conn
            .query_all_raw(page.build(conn.get_database_backend()))
            .await?;
        let count = match rows.first() {
            Some(row) => Some(u64::try_from(row.try_get::<i64>("", COUNT_ALIAS)?).unwrap_or(0)),
            None => None,
        };
        let models = rows
            .iter()
            .map(|row| E::Model::from_query_result(row, ""))
            .collect::<Result<_, _>>()?;
        Ok((models, count))
    }

    async fn cursor_page(
        &self,
        conn: &Conn<'_>,
        filtered: Select<E>,
        ordering: &[(E::Column, bool)],
        size: u64,
        cursor: Option<&Cursor>,
    ) -> Result<Page<E::Model>, PersistenceError> {
        let before = cursor.is_some_and(|c| c.before);
        let mut query = filtered;
        if let Some(cursor) = cursor {
            query = query.filter(conditions::keyset::<E>(
                ordering,
                &cursor.values,
                cursor.before,
            ));
        }
        for (column, descending) in ordering {
            query = query.order_by(*column, order(*descending != before));
        }
        let mut rows = query.limit(size + 1).all(conn).await?;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        if before {
            rows.reverse();
        }
        let position = |model: Option<&E::Model>| {
            model
                .map(|m| conditions::position::<E>(m, ordering))
                .transpose()
        };
        Ok(Page {
            first: position(rows.first())?,
            last: position(rows.last())?,
            count: None,
            has_next: if before { true } else { more },
            has_previous: if before { more } else { cursor.is_some() },
            rows,
        })
    }

    /// How a counted page learns its count: known beforehand (none asked for, or the
    /// planner's estimate of a large table), or counted along with the page.
    async fn count(
        &self,
        conn: &Conn<'_>,
        filtered: &Select<E>,
        mode: CountMode,
    ) -> Result<Count, PersistenceError> {
        match mode {
            CountMode::None => Ok(Count::Known(None)),
            CountMode::Estimated if conn.get_database_backend() == DatabaseBackend::Postgres => {
                match Self::estimate(conn, filtered).await? {
                    Some(estimate) if estimate >= ESTIMATE_THRESHOLD => {
                        Ok(Count::Known(Some(estimate)))
                    }
                    _ => Ok(Count::Inline),
                }
            }
            CountMode::Exact | CountMode::Estimated => Ok(Count::Inline),
        }
    }

    /// The planner's row estimate for the filtered rows (PostgreSQL), as PostgREST does.
    async fn estimate(
        conn: &Conn<'_>,
        filtered: &Select<E>,
    ) -> Result<Option<u64>, PersistenceError> {
        let statement = filtered.build(DatabaseBackend::Postgres);
        let explain = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("EXPLAIN (FORMAT JSON) {}", statement.sql),
            statement.values.map(|v| v.0).unwrap_or_default(),
        );
        let Some(row) = conn.query_one_raw(explain).await? else {
            return Ok(None);
        };
        let plan: serde_json::Value = row.try_get_by_index(0)?;
        Ok(plan[0]["Plan"]["Plan Rows"]
            .as_f64()
            .map(|rows| rows.max(0.0) as u64))
    }
}

/// See `Repository::count`.
enum Count {
    Known(Option<u64>),
    Inline,
}

/// The column a counted page's rows carry the count in.
const COUNT_ALIAS: &str = "__total_count";

/// What every write adds to the version column.
const VERSION_STEP: i32 = 1;

/// The `RETURNING` list SeaORM puts on writes: every column, as a read selects it.
fn returning<E: EntityTrait>(backend: DbBackend) -> ReturningClause {
    Query::returning().exprs(
        E::Column::iter().map(|column| column.select_as(column.into_returning_expr(backend))),
    )
}

/// Takes out of `model` the values a write binds, in column order, with the bitmask of their
/// columns: `Set` values, and for an insert `Unchanged` ones too (SeaORM's `Insert` binds
/// both, its `UpdateMany` only `Set` ones). At most 32 columns (see `cacheable`).
fn take_bound<A: ActiveModelTrait>(
    model: &mut A,
    unchanged_too: bool,
) -> (u64, Vec<sea_orm::Value>) {
    let mut mask = 0;
    let mut values = Vec::new();
    for (i, column) in <A::Entity as EntityTrait>::Column::iter().enumerate() {
        let value = match model.take(column) {
            ActiveValue::Set(value) => value,
            ActiveValue::Unchanged(value) if unchanged_too => value,
            _ => continue,
        };
        mask |= 1 << i;
        values.push(value);
    }
    (mask, values)
}

/// A model binding `values` in the columns of `mask`: the same statement as the model they
/// were taken from.
fn rebuild<A: ActiveModelTrait>(mask: u64, values: &[sea_orm::Value]) -> Result<A, DbErr> {
    let mut model = A::default();
    let mut values = values.iter();
    for (i, column) in <A::Entity as EntityTrait>::Column::iter().enumerate() {
        if mask & (1 << i) != 0
            && let Some(value) = values.next()
        {
            model.try_set(column, value.clone())?;
        }
    }
    Ok(model)
}

/// The part of a write's shape that says how many versions it accepts (none: unconditional).
fn versions_shape(expected: Option<&[i64]>) -> u64 {
    expected.map_or(0, |versions| (versions.len() as u64 + 1) << 32)
}

/// Below this many estimated rows an exact count is cheap, and estimates of small or freshly
/// filled tables are the least accurate: count them.
const ESTIMATE_THRESHOLD: u64 = 1000;

fn order(descending: bool) -> sea_orm::Order {
    if descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    }
}

#[cfg(test)]
mod tests {
    use domain::item::ItemCreate;
    use sea_orm::{ConnectionTrait, Database, Schema};

    use super::*;
    use crate::entities::item;

    /// Every statement of Item's hot paths is verified and kept after its first use, and the
    /// kept SQL then does what the built one did (a real SQLite database, one thread).
    #[tokio::test]
    async fn item_statements_are_kept_and_reused_correctly() {
        let shared = Database::connect("sqlite::memory:").await.unwrap();
        let backend = shared.get_database_backend();
        shared
            .execute(&Schema::new(backend).create_table_from_entity(item::Entity))
            .await
            .unwrap();
        let db = Db::transient(shared, true);
        let items = Repository::<item::Entity>::new(&db, Condition::all());
        let payload = |name: &str| ItemCreate {
            name: name.into(),
            description: "d".into(),
            price: 2.5,
            in_stock: true,
        };
        for round in 0..2 {
            let created = items.insert(payload("a").into_insert(now())).await.unwrap();
            assert_eq!((created.name.as_str(), created.version), ("a", 1));
            let read = items.get(created.id).await.unwrap().unwrap();
            assert_eq!(read, created);
            let updated = match items
                .update(created.id, payload("b").into_update(now()), Some(&[1]))
                .await
                .unwrap()
            {
                Written::Done(model) => model,
                other => panic!("{other:?}"),
            };
            assert_eq!((updated.name.as_str(), updated.version), ("b", 2));
            assert!(matches!(
                items
                    .update(created.id, payload("c").into_update(now()), Some(&[1]))
                    .await,
                Ok(Written::VersionMismatch)
            ));
            assert!(matches!(
                items.delete(created.id, Some(&[1])).await,
                Ok(Written::VersionMismatch)
            ));
            assert!(matches!(
                items.delete(created.id, Some(&[2])).await,
                Ok(Written::Done(()))
            ));
            assert!(matches!(items.get(created.id).await, Ok(None)));
            assert_eq!(
                statements::kept::<item::Entity>(),
                ["delete", "get", "insert", "update"],
                "round {round}"
            );
        }
    }
}
