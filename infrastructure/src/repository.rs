//! One repository for every entity: get, insert, compare-and-set update and delete, and
//! lists with filters, search, ordering and the three paginations. Each operation is a
//! single statement (a counted page carries its `COUNT` as a scalar subquery), so
//! concurrent writers cannot lose updates and no request does per-row work.

mod columns;
mod conditions;
mod statements;

use std::marker::PhantomData;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use domain::query::{ListParams, QuerySpec, Value};
use sea_orm::sea_query::{
    Alias, Asterisk, CommonTableExpression, Expr, Func, IntoValueTuple, Query, ReturningClause,
    SelectStatement, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend,
    DbBackend, DbErr, EntityTrait, ExprTrait, FromQueryResult, IntoActiveModel, Iterable,
    ModelTrait, PaginatorTrait, PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QuerySelect,
    QueryTrait, Select, Statement, TransactionTrait, Value as DbValue,
};
use tracing::instrument;

use crate::PersistenceError;
use crate::database::Db;

pub use columns::{active_model, model_fields};
pub use conditions::check_columns;
pub use statements::Statements;

use statements::{Columns, Operation, Scope, Shape};

/// What the repository needs to know about a table beyond SeaORM's traits.
pub trait Table: EntityTrait {
    /// The primary key as it appears in URLs (parsed from the path, printed in `Location`).
    type Key: FromStr + std::fmt::Display + Clone + Into<Id<Self>>;

    /// The key of a row.
    fn key(model: &Self::Model) -> Self::Key;

    /// The row-version column that every write bumps: ETags and compare-and-set updates.
    /// Hidden from clients.
    fn version_column() -> Option<Self::Column> {
        None
    }

    /// The column the server sets when it inserts a row; read-only to clients.
    fn created_column() -> Option<Self::Column> {
        None
    }

    /// The column the server sets on every write; read-only to clients.
    fn updated_column() -> Option<Self::Column> {
        None
    }
}

/// A column of another table that refers to an entity's rows with `ON DELETE SET NULL`, and
/// that table's version and updated columns (see [`Repository::delete_clearing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Referring {
    pub table: &'static str,
    pub column: &'static str,
    pub version: Option<&'static str>,
    pub updated: Option<&'static str>,
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

/// How a counted page counts its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// No count.
    None,
    /// `COUNT(*)` over the filtered rows.
    Exact,
    /// The planner's estimate (PostgreSQL) when it is at least this many rows, or when
    /// reading the rows costs the planner more than this many of its units (a page read
    /// sequentially is 1: the count would scan); an exact count otherwise, and always on
    /// SQLite, which has no estimate.
    EstimateFrom(u64),
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<M> {
    pub rows: Vec<M>,
    /// `None` for cursor pages and `count=none`.
    pub count: Option<u64>,
    /// The count is the planner's estimate, not an exact count.
    pub estimated: bool,
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
        Self::key_is(key).add(self.scope.clone())
    }

    /// `WHERE key`, whatever the scope.
    fn key_is(key: E::Key) -> Condition {
        let id: Id<E> = key.into();
        let mut condition = Condition::all();
        for (column, value) in E::PrimaryKey::iter().zip(id.into_value_tuple()) {
            condition = condition.add(column.into_column().eq(value));
        }
        condition
    }

    /// The values of `WHERE key AND scope [AND version IN expected]`, in the order `by_id`
    /// and the version filter write them.
    fn located(key: E::Key, scope: Scope, expected: Option<&[i64]>) -> Vec<DbValue> {
        let id: Id<E> = key.into();
        let mut values: Vec<DbValue> = id.into_value_tuple().into_iter().collect();
        values.extend(scope.values);
        values.extend(
            expected
                .unwrap_or_default()
                .iter()
                .map(|v| DbValue::from(*v)),
        );
        values
    }

    /// The versions a write compares: those `If-Match` named, where the table keeps one.
    fn compared(expected: Option<&[i64]>) -> Option<&[i64]> {
        expected.filter(|_| E::version_column().is_some())
    }

    /// The statement of `shape`, by its values in SeaORM's order (see [`Statements`]).
    fn statement(
        &self,
        shape: Shape,
        values: Vec<DbValue>,
        build: impl FnOnce(DbBackend) -> Statement,
    ) -> Statement {
        let backend = self.db.get_database_backend();
        self.db
            .statements()
            .statement(backend, shape, values, || build(backend))
    }

    /// One row of a statement's answer.
    async fn one(&self, statement: Statement) -> Result<Option<E::Model>, PersistenceError> {
        Ok(self
            .db
            .query_one_raw(statement)
            .await?
            .map(|row| E::Model::from_query_result(&row, ""))
            .transpose()?)
    }

    #[instrument(level = "debug", skip_all)]
    pub async fn get(&self, key: E::Key) -> Result<Option<E::Model>, PersistenceError> {
        let scope = Scope::of(&self.scope, self.db.get_database_backend());
        let shape = Shape::new::<E>(Operation::Get, Columns::default(), &scope);
        // `WHERE key AND scope LIMIT 1`, as `Select::one` writes it.
        let mut values = Self::located(key.clone(), scope, None);
        values.push(DbValue::BigUnsigned(Some(1)));
        let statement = self.statement(shape, values, |backend| {
            E::find().filter(self.by_id(key)).limit(1).build(backend)
        });
        self.one(statement).await
    }

    /// The rows whose keys are among `keys`, in no particular order (the targets of a
    /// page's relation, for `expand`: one statement per page).
    #[instrument(level = "debug", skip_all)]
    pub async fn get_many(&self, keys: &[Value]) -> Result<Vec<E::Model>, PersistenceError> {
        let Some(key) = E::PrimaryKey::iter().next() else {
            return Ok(Vec::new());
        };
        Ok(E::find()
            .filter(
                key.into_column()
                    .is_in(keys.iter().map(conditions::db_value)),
            )
            .filter(self.scope.clone())
            .all(self.db)
            .await?)
    }

    /// Inserts a row, setting the columns the server keeps (created and updated times, the
    /// first version).
    #[instrument(level = "debug", skip_all)]
    pub async fn insert(&self, mut values: E::ActiveModel) -> Result<E::Model, PersistenceError>
    where
        E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        let now = now();
        for column in [E::created_column(), E::updated_column()]
            .into_iter()
            .flatten()
        {
            values.set(column, now.into());
        }
        if let Some(version) = E::version_column() {
            values.set(version, 1i64.into());
        }
        // `INSERT ... RETURNING` every column, as SeaORM's `exec_with_returning` writes it.
        let (columns, written) = written::<E>(&values, true);
        let shape = Shape::new::<E>(Operation::Insert, columns, &Scope::default());
        let statement = self.statement(shape, written, |backend| {
            let mut insert = E::insert(values).into_query();
            insert.returning(returning::<E>(backend));
            backend.build(&insert)
        });
        self.one(statement)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the inserted row was not returned".into()).into())
    }

    /// Updates the row in one statement, setting its updated time and bumping its version;
    /// with `expected` set, only if its version is still one of those (compare-and-set).
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
        let mut values = values;
        if let Some(updated) = E::updated_column() {
            values.set(updated, now().into());
        }
        let (columns, written) = written::<E>(&values, false);
        // Nothing to set (no field sent, no version or timestamp kept): the row as it is.
        if written.is_empty() {
            return Ok(self
                .get(key)
                .await?
                .map_or(Written::NotFound, Written::Done));
        }
        // Compare-and-set applies where there is a version to compare; an `If-Match` that
        // names no version can only fail, and needs no write to say so.
        let expected = Self::compared(expected);
        if expected.is_some_and(<[i64]>::is_empty) {
            return self.missing_or_stale(key, expected).await;
        }
        let scope = Scope::of(&self.scope, self.db.get_database_backend());
        let version = E::version_column();
        let shape = Shape::new::<E>(
            Operation::Update {
                expected: expected.map(<[i64]>::len),
            },
            columns,
            &scope,
        );
        // `SET columns, version = version + 1 WHERE key AND scope AND version IN expected
        // RETURNING` every column: SeaORM's `exec_with_returning`, reading its one row.
        let mut all = written;
        if version.is_some() {
            all.push(DbValue::from(VERSION_STEP));
        }
        all.extend(Self::located(key.clone(), scope, expected));
        let statement = self.statement(shape, all, |backend| {
            let mut update = E::update_many().set(values).filter(self.by_id(key.clone()));
            if let Some(version) = version {
                update = update.col_expr(version, Expr::col(version).add(VERSION_STEP));
                if let Some(expected) = expected {
                    update = update.filter(version.is_in(expected.iter().copied()));
                }
            }
            let mut update = update.into_query();
            update.returning(returning::<E>(backend));
            backend.build(&update)
        });
        match self.one(statement).await? {
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
        let expected = Self::compared(expected);
        if expected.is_some_and(<[i64]>::is_empty) {
            return self.missing_or_stale(key, expected).await;
        }
        let scope = Scope::of(&self.scope, self.db.get_database_backend());
        let version = E::version_column();
        let shape = Shape::new::<E>(
            Operation::Delete {
                expected: expected.map(<[i64]>::len),
            },
            Columns::default(),
            &scope,
        );
        let values = Self::located(key.clone(), scope, expected);
        let statement = self.statement(shape, values, |backend| {
            let mut delete = E::delete_many().filter(self.by_id(key.clone()));
            if let (Some(version), Some(expected)) = (version, expected) {
                delete = delete.filter(version.is_in(expected.iter().copied()));
            }
            delete.build(backend)
        });
        if self.db.execute_raw(statement).await?.rows_affected() > 0 {
            return Ok(Written::Done(()));
        }
        self.missing_or_stale(key, expected).await
    }

    /// Deletes the row as [`Self::delete`] does, and in the same transaction clears the
    /// columns in `clear` that referred to it (their foreign keys' `ON DELETE SET NULL`),
    /// bumping the referring rows' versions and updated times as any write does: their
    /// ETags change with their content, so no cache keeps the old reference. The foreign key
    /// alone would clear the column and leave the version. On PostgreSQL one statement
    /// (`WITH deleted AS (DELETE ... RETURNING key), ... UPDATE ... WHERE column IN (SELECT
    /// key FROM deleted)`); on SQLite, which has no writes in `WITH`, a transaction.
    #[instrument(level = "debug", skip_all)]
    pub async fn delete_clearing(
        &self,
        key: E::Key,
        expected: Option<&[i64]>,
        clear: &[Referring],
    ) -> Result<Written<()>, PersistenceError> {
        let expected = Self::compared(expected);
        if clear.is_empty() || expected.is_some_and(<[i64]>::is_empty) {
            return self.delete(key, expected).await;
        }
        let Some(primary) = E::PrimaryKey::iter().next().map(|k| k.into_column()) else {
            return self.delete(key, expected).await;
        };
        // The row to delete: its key, the scope, and the version `If-Match` expects.
        let mut target = self.by_id(key.clone());
        if let (Some(version), Some(expected)) = (E::version_column(), expected) {
            target = target.add(version.is_in(expected.iter().copied()));
        }
        let delete = E::delete_many().filter(target.clone()).into_query();
        let now = now();
        // The referring rows' update, for the keys `deleted` names.
        let clearing = |referring: &Referring, deleted: SelectStatement| {
            let mut update = Query::update();
            update
                .table(Alias::new(referring.table))
                .value(Alias::new(referring.column), Expr::null())
                .and_where(Expr::col(Alias::new(referring.column)).in_subquery(deleted));
            if let Some(version) = referring.version {
                update.value(
                    Alias::new(version),
                    Expr::col(Alias::new(version)).add(VERSION_STEP),
                );
            }
            if let Some(updated) = referring.updated {
                update.value(Alias::new(updated), Expr::value(now));
            }
            update
        };
        let backend = self.db.get_database_backend();
        let deleted = match backend {
            DbBackend::Postgres => {
                let mut returning = delete;
                returning.returning_col(primary);
                let mut with = WithClause::new();
                with.cte(
                    CommonTableExpression::new()
                        .query(returning)
                        .table_name(Alias::new("deleted"))
                        .to_owned(),
                );
                for (i, referring) in clear.iter().enumerate() {
                    let keys = Query::select()
                        .column(primary)
                        .from(Alias::new("deleted"))
                        .to_owned();
                    with.cte(
                        CommonTableExpression::new()
                            .query(clearing(referring, keys))
                            .table_name(Alias::new(format!("cleared_{i}")))
                            .to_owned(),
                    );
                }
                let rows = Query::select()
                    .column(primary)
                    .from(Alias::new("deleted"))
                    .to_owned();
                let statement = backend.build(&with.query(rows));
                !self.db.query_all_raw(statement).await?.is_empty()
            }
            _ => {
                self.db.sending_write();
                let transaction = self.db.shared().begin().await?;
                for referring in clear {
                    let keys = E::find()
                        .select_only()
                        .column(primary)
                        .filter(target.clone())
                        .into_query();
                    transaction
                        .execute_raw(backend.build(&clearing(referring, keys)))
                        .await?;
                }
                let done = transaction.execute_raw(backend.build(&delete)).await?;
                if done.rows_affected() > 0 {
                    transaction.commit().await?;
                    true
                } else {
                    transaction.rollback().await?;
                    false
                }
            }
        };
        if deleted {
            return Ok(Written::Done(()));
        }
        self.missing_or_stale(key, expected).await
    }

    /// Whether a row other than `except` holds `value` in `column` (compared as `lower()`
    /// compares when `ignoring_case`), whatever the scope: DRF's `UniqueValidator` lookup,
    /// asked only to report a taken value beside a body's other errors (on a write, the unique
    /// index decides).
    #[instrument(level = "debug", skip_all)]
    pub async fn holds(
        &self,
        column: &str,
        value: &str,
        ignoring_case: bool,
        except: Option<E::Key>,
    ) -> Result<bool, PersistenceError> {
        let Ok(column) = E::Column::from_str(column) else {
            return Ok(false);
        };
        let same = if ignoring_case {
            Expr::expr(Func::lower(Expr::col(column))).eq(Func::lower(Expr::val(value)))
        } else {
            Expr::col(column).eq(value)
        };
        let mut query = E::find().filter(same);
        if let Some(key) = except {
            query = query.filter(Self::key_is(key).not());
        }
        Ok(query.one(self.db).await?.is_some())
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

    /// The rows `params` selects: the scope, then its filters and search.
    fn filtered(
        &self,
        spec: &QuerySpec,
        params: &ListParams,
    ) -> Result<Select<E>, PersistenceError> {
        Ok(E::find()
            .filter(self.scope.clone())
            .filter(conditions::filters::<E>(spec, params)?))
    }

    /// Rows `offset..offset + limit` of the ordered selection, with their count as `mode`
    /// asks (page-number and limit/offset pages). Fetches one row more than the page to
    /// learn whether a next page exists.
    #[instrument(level = "debug", skip_all)]
    pub async fn offset_page(
        &self,
        spec: &QuerySpec,
        params: &ListParams,
        offset: u64,
        limit: u64,
        counting: Counting,
    ) -> Result<Page<E::Model>, PersistenceError> {
        let conn = self.db;
        let filtered = self.filtered(spec, params)?;
        let count = self.count(conn, &filtered, counting).await?;
        let mut estimated = matches!(count, Count::Estimated(_));
        let (keys, joins) = conditions::ordering::<E>(spec, &params.ordering)?;
        let page = conditions::join(filtered.clone(), &joins);
        let page = conditions::order(page, &keys, false)
            .offset(offset)
            .limit(limit + 1);
        let (mut rows, count) = match count {
            Count::None => (page.all(conn).await?, None),
            Count::Estimated(estimate) => {
                let rows = page.all(conn).await?;
                let seen = offset + rows.len() as u64;
                if rows.len() as u64 <= limit && (offset == 0 || !rows.is_empty()) {
                    // The last page, read whole: the rows up to its end are the count.
                    estimated = false;
                    (rows, Some(seen))
                } else {
                    // Never fewer than the rows the page has shown to exist.
                    (rows, Some(Ord::max(estimate, seen)))
                }
            }
            Count::Inline => {
                let (rows, count) = Self::counted_page(conn, page, &filtered).await?;
                match count {
                    Some(count) => (rows, Some(count)),
                    // No row to carry the count: none match, or the page is past the last
                    // one (then it takes a query of its own).
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
            estimated,
            has_next,
            has_previous: offset > 0,
            first: None,
            last: None,
        })
    }

    /// The page with the count of all matching rows in one round trip: each row carries
    /// `(SELECT COUNT(*) ... same filters)`, which the database evaluates once.
    async fn counted_page(
        conn: &Db,
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

    /// Up to `size` rows of the ordered selection after (or, `before`, just before) the
    /// row whose ordering values are `position`: keyset pages, never counted. The page
    /// carries the positions of its first and last rows.
    #[instrument(level = "debug", skip_all)]
    pub async fn keyset_page(
        &self,
        spec: &QuerySpec,
        params: &ListParams,
        size: u64,
        position: Option<(&[Value], bool)>,
    ) -> Result<Page<E::Model>, PersistenceError> {
        let (keys, joins) = conditions::ordering::<E>(spec, &params.ordering)?;
        let (after_some_row, before) = (position.is_some(), position.is_some_and(|(_, b)| b));
        let mut query = conditions::join(self.filtered(spec, params)?, &joins);
        if let Some((values, before)) = position {
            query = query.filter(conditions::keyset::<E>(&keys, values, before));
        }
        query = conditions::order(query, &keys, before);
        // A target's field a page is ordered by travels as an extra column, for the cursor.
        for (i, key) in keys.iter().enumerate() {
            if key.column.is_none() {
                query = query.expr_as(key.expr.clone(), conditions::position_alias(i));
            }
        }
        let backend = self.db.get_database_backend();
        let mut rows = self
            .db
            .query_all_raw(query.limit(size + 1).build(backend))
            .await?;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        if before {
            rows.reverse();
        }
        let models = rows
            .iter()
            .map(|row| E::Model::from_query_result(row, ""))
            .collect::<Result<Vec<_>, _>>()?;
        let position = |i: Option<usize>| {
            i.map(|i| conditions::position::<E>(&models[i], &rows[i], &keys))
                .transpose()
        };
        let last = models.len().checked_sub(1);
        Ok(Page {
            first: position(last.map(|_| 0))?,
            last: position(last)?,
            count: None,
            estimated: false,
            has_next: if before { true } else { more },
            has_previous: if before { more } else { after_some_row },
            rows: models,
        })
    }

    /// The planner's estimate of the rows `params` selects (PostgreSQL; `None` on SQLite,
    /// which has none): one `EXPLAIN`, whatever the table's size.
    #[instrument(level = "debug", skip_all)]
    pub async fn estimate_rows(
        &self,
        spec: &QuerySpec,
        params: &ListParams,
    ) -> Result<Option<u64>, PersistenceError> {
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(None);
        }
        Ok(Self::estimate(self.db, &self.filtered(spec, params)?)
            .await?
            .map(|plan| plan.rows))
    }

    /// How a counted page learns its count: none asked for, the planner's estimate of a
    /// large set, or counted along with the page.
    async fn count(
        &self,
        conn: &Db,
        filtered: &Select<E>,
        counting: Counting,
    ) -> Result<Count, PersistenceError> {
        match counting {
            Counting::None => Ok(Count::None),
            Counting::EstimateFrom(threshold)
                if conn.get_database_backend() == DatabaseBackend::Postgres =>
            {
                // Counting exactly reads every matching row: worth it only for few rows
                // that the database reaches cheaply. A filter no index serves (a substring,
                // say) makes even a small count a scan of the table: its cost says so.
                match Self::estimate(conn, filtered).await? {
                    Some(plan) if plan.too_large_to_count(threshold) => {
                        Ok(Count::Estimated(plan.rows))
                    }
                    _ => Ok(Count::Inline),
                }
            }
            Counting::Exact | Counting::EstimateFrom(_) => Ok(Count::Inline),
        }
    }

    /// The planner's estimate for the filtered rows (PostgreSQL), as PostgREST does: how
    /// many, and what reading them all costs.
    async fn estimate(conn: &Db, filtered: &Select<E>) -> Result<Option<Plan>, PersistenceError> {
        let statement = filtered.build(DatabaseBackend::Postgres);
        let explain = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("{}{}", crate::database::EXPLAIN, statement.sql),
            statement.values.map(|v| v.0).unwrap_or_default(),
        );
        let Some(row) = conn.query_one_raw(explain).await? else {
            return Ok(None);
        };
        let plan: serde_json::Value = row.try_get_by_index(0)?;
        let plan = &plan[0]["Plan"];
        Ok(
            match (plan["Plan Rows"].as_f64(), plan["Total Cost"].as_f64()) {
                (Some(rows), Some(cost)) => Some(Plan {
                    rows: rows.max(0.0) as u64,
                    cost,
                }),
                _ => None,
            },
        )
    }
}

/// What the planner expects of a selection.
struct Plan {
    rows: u64,
    /// In the planner's units: reading one page sequentially costs 1.
    cost: f64,
}

impl Plan {
    /// Would counting the rows exactly read more than `threshold` rows, or cost more than
    /// `threshold` of the planner's units (a scan that no index shortens)?
    fn too_large_to_count(&self, threshold: u64) -> bool {
        self.rows >= threshold || self.cost > threshold as f64
    }
}

/// See `Repository::count`.
enum Count {
    None,
    Estimated(u64),
    Inline,
}

/// The column a counted page's rows carry the count in.
const COUNT_ALIAS: &str = "__total_count";

/// What every write adds to the version column.
const VERSION_STEP: i32 = 1;

/// The columns an active model writes and their values, in `Column::iter()` order: those
/// `Set`, and with `unchanged_too` those `Unchanged` as well (what SeaORM's insert writes;
/// its update writes only those `Set`).
fn written<E: EntityTrait>(values: &E::ActiveModel, unchanged_too: bool) -> (Columns, Vec<DbValue>)
where
    E::ActiveModel: ActiveModelTrait<Entity = E>,
{
    let mut columns = Columns::default();
    let mut written = Vec::new();
    for (position, column) in E::Column::iter().enumerate() {
        match values.get(column) {
            ActiveValue::Set(value) => written.push(value),
            ActiveValue::Unchanged(value) if unchanged_too => written.push(value),
            _ => continue,
        }
        columns.insert(position);
    }
    (columns, written)
}

/// Every column, as SeaORM's `exec_with_returning` asks for them back.
fn returning<E: EntityTrait>(backend: DbBackend) -> ReturningClause {
    Query::returning().exprs(E::Column::iter().map(|c| c.select_as(c.into_returning_expr(backend))))
}

/// How many rows of `table` hold `key` in `column`: the rows that refer to a row.
#[instrument(level = "debug", skip_all)]
pub async fn count_referencing(
    db: &Db,
    table: &str,
    column: &str,
    key: &Value,
) -> Result<u64, PersistenceError> {
    let mut count = Query::select();
    count
        .expr(Func::count(Expr::col(Asterisk)))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(column)).eq(conditions::db_value(key)));
    let backend = db.get_database_backend();
    let row = db.query_one_raw(backend.build(&count)).await?;
    let count = match row {
        Some(row) => row.try_get_by_index::<i64>(0)?,
        None => 0,
    };
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The columns of `table` that lead a valid B-tree index without a predicate: a list
/// ordered by one of them reads its first rows from the index, at any table size.
/// PostgreSQL only (`None` on SQLite, whose lists the planner's estimates cannot guard).
#[instrument(level = "debug", skip_all)]
pub async fn indexed_columns(
    db: &Db,
    table: &str,
) -> Result<Option<std::collections::HashSet<String>>, PersistenceError> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let statement = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT a.attname::text FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree' \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisvalid AND i.indpred IS NULL",
        [table.into()],
    );
    let rows = db.query_all_raw(statement).await?;
    let columns = rows
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?;
    Ok(Some(columns))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, Schema};
    use serde_json::json;

    use super::*;
    use crate::database::Wire;
    use crate::entities::item;

    /// `count=auto` counts few rows the database reaches cheaply, and estimates many rows,
    /// or few that only a scan of the table finds (a substring filter on a large table).
    #[test]
    fn auto_counts_exactly_only_what_is_cheap_to_count() {
        let plan = |rows, cost| Plan { rows, cost };
        assert!(!plan(40, 12.5).too_large_to_count(10_000), "a small table");
        assert!(
            !plan(9_000, 4_000.0).too_large_to_count(10_000),
            "an index range"
        );
        assert!(
            plan(20_000, 9_000.0).too_large_to_count(10_000),
            "many rows"
        );
        assert!(
            plan(5_000, 25_000.0).too_large_to_count(10_000),
            "few rows, by a scan"
        );
    }

    /// Repository futures hold their connection in an RAII lease and can move between threads.
    #[tokio::test]
    async fn operations_are_send() {
        fn send<T: Send>(_: &T) {}
        let shared = Database::connect("sqlite::memory:").await.unwrap();
        let db = Db::transient(
            shared,
            Wire::Prepared {
                statement_timeout_ms: 0,
            },
        );
        let items = Repository::<item::Entity>::new(&db, Condition::all());
        send(&items.get(1));
        send(&items.delete(1, Some(&[1])));
        send(&items.insert(<item::ActiveModel as Default>::default()));
    }

    /// Insert, get, compare-and-set update and delete of Item on a real SQLite database.
    #[tokio::test]
    async fn item_writes_are_compare_and_set() {
        let shared = Database::connect("sqlite::memory:").await.unwrap();
        let backend = shared.get_database_backend();
        shared
            .execute(&Schema::new(backend).create_table_from_entity(item::Entity))
            .await
            .unwrap();
        let db = Db::transient(
            shared,
            Wire::Prepared {
                statement_timeout_ms: 0,
            },
        );
        let items = Repository::<item::Entity>::new(&db, Condition::all());
        let payload = |name: &str| {
            let serde_json::Value::Object(values) =
                json!({"name": name, "description": "d", "price": 2.5, "in_stock": true})
            else {
                unreachable!()
            };
            active_model::<item::Entity>(values).unwrap()
        };
        for round in 0..2 {
            let created = items.insert(payload("a")).await.unwrap();
            assert_eq!((created.name.as_str(), created.version), ("a", 1));
            let read = items.get(created.id).await.unwrap().unwrap();
            assert_eq!(read, created);
            let updated = match items
                .update(created.id, payload("b"), Some(&[1]))
                .await
                .unwrap()
            {
                Written::Done(model) => model,
                other => panic!("{other:?}"),
            };
            assert_eq!((updated.name.as_str(), updated.version), ("b", 2));
            assert!(matches!(
                items.update(created.id, payload("c"), Some(&[1])).await,
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
            assert!(
                matches!(items.get(created.id).await, Ok(None)),
                "round {round}"
            );
        }
        // The second round sent the first one's shapes again, with its own values.
        assert_eq!(db.statements().counts(), (4, 0));

        // Unconditional writes, a partial update, an `If-Match` that matches nothing, and a
        // scope: shapes of their own, each agreeing with SeaORM's build.
        let created = items.insert(payload("a")).await.unwrap();
        let mut patch = <item::ActiveModel as Default>::default();
        patch.set(item::Column::Price, 7.5f64.into());
        let Ok(Written::Done(patched)) = items.update(created.id, patch, None).await else {
            panic!("a partial update")
        };
        assert_eq!((patched.name.as_str(), patched.price), ("a", 7.5));
        assert!(matches!(
            items.update(created.id, payload("x"), Some(&[])).await,
            Ok(Written::VersionMismatch)
        ));
        let scoped = |name: &str| {
            Repository::<item::Entity>::new(&db, Condition::all().add(item::Column::Name.eq(name)))
        };
        assert!(scoped("b").get(created.id).await.unwrap().is_none());
        assert!(scoped("a").get(created.id).await.unwrap().is_some());
        assert!(matches!(
            scoped("b").delete(created.id, None).await,
            Ok(Written::NotFound)
        ));
        assert!(matches!(
            scoped("a").delete(created.id, None).await,
            Ok(Written::Done(()))
        ));
        // New: the partial update, the scoped get and the scoped delete (an `If-Match` that
        // names no version writes nothing).
        assert_eq!(db.statements().counts(), (7, 0));
    }
}
