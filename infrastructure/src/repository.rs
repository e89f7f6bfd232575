//! One repository for every entity: get, insert, compare-and-set update and delete, and
//! lists with filters, search, ordering and the three paginations. Each operation is a
//! single statement (plus a `COUNT` for counted pages), so concurrent writers cannot lose
//! updates and no request does per-row work.

mod conditions;
mod statements;

use std::marker::PhantomData;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use domain::query::{CountMode, Cursor, ListParams, Pagination, QuerySpec, Value};
use sea_orm::sea_query::{Expr, IntoValueTuple};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    ExprTrait, IntoActiveModel, Iterable, ModelTrait, PaginatorTrait, PrimaryKeyToColumn,
    PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, SelectModel,
    SelectorRaw, Statement,
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
        let conn = self.db.conn().await?;
        let row = if self.scope.is_empty() {
            // The hot path: the same statement every time but for the key, so its SQL is
            // built once per entity and backend.
            let backend = conn.get_database_backend();
            let id: Id<E> = key.clone().into();
            let sql = statements::cached::<E>("get", backend, || {
                E::find().filter(self.by_id(key)).build(backend).sql
            });
            let values: Vec<sea_orm::Value> = id.into_value_tuple().into_iter().collect();
            SelectorRaw::<SelectModel<E::Model>>::from_statement(Statement::from_sql_and_values(
                backend, &*sql, values,
            ))
            .one(&conn)
            .await
        } else {
            E::find().filter(self.by_id(key)).one(&conn).await
        };
        self.db.release(conn);
        Ok(row?)
    }

    #[instrument(level = "debug", skip_all)]
    pub async fn insert(&self, values: E::ActiveModel) -> Result<E::Model, PersistenceError>
    where
        E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        let conn = self.db.conn().await?;
        let row = E::insert(values).exec_with_returning(&conn).await;
        self.db.release(conn);
        Ok(row?)
    }

    /// Updates the row in one statement, bumping its version; with `expected` set, only
    /// if its version is still one of those (compare-and-set).
    #[instrument(level = "debug", skip_all)]
    pub async fn update(
        &self,
        key: E::Key,
        values: E::ActiveModel,
        expected: Option<&[i64]>,
    ) -> Result<Written<E::Model>, PersistenceError>
    where
        E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    {
        let mut update = E::update_many().set(values).filter(self.by_id(key.clone()));
        if let Some(version) = E::version_column() {
            update = update.col_expr(version, Expr::col(version).add(1));
            if let Some(expected) = expected {
                update = update.filter(version.is_in(expected.iter().copied()));
            }
        }
        let conn = self.db.conn().await?;
        let rows = update.exec_with_returning(&conn).await;
        self.db.release(conn);
        match rows?.into_iter().next() {
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
        let mut delete = E::delete_many().filter(self.by_id(key.clone()));
        if let (Some(version), Some(expected)) = (E::version_column(), expected) {
            delete = delete.filter(version.is_in(expected.iter().copied()));
        }
        let conn = self.db.conn().await?;
        let deleted = delete.exec(&conn).await;
        self.db.release(conn);
        if deleted?.rows_affected > 0 {
            return Ok(Written::Done(()));
        }
        self.missing_or_stale(key, expected).await
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
                let count = self.count(conn, filtered.clone(), params.count).await?;
                let mut page = filtered;
                for (column, descending) in &ordering {
                    page = page.order_by(*column, order(*descending));
                }
                let mut rows = page.offset(offset).limit(limit + 1).all(conn).await?;
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

    async fn count(
        &self,
        conn: &Conn<'_>,
        filtered: Select<E>,
        mode: CountMode,
    ) -> Result<Option<u64>, PersistenceError> {
        match mode {
            CountMode::None => Ok(None),
            CountMode::Estimated if conn.get_database_backend() == DatabaseBackend::Postgres => {
                match Self::estimate(conn, &filtered).await? {
                    Some(estimate) if estimate >= ESTIMATE_THRESHOLD => Ok(Some(estimate)),
                    _ => Ok(Some(filtered.count(conn).await?)),
                }
            }
            CountMode::Exact | CountMode::Estimated => Ok(Some(filtered.count(conn).await?)),
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
