//! One repository for every entity: get, insert, compare-and-set update and delete, and
//! lists with filters, search, ordering and the three paginations. Each operation is a
//! single statement (a counted page carries its `COUNT` as a scalar subquery), so
//! concurrent writers cannot lose updates and no request does per-row work.

mod conditions;

use std::marker::PhantomData;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use domain::query::{CountMode, Cursor, ListParams, Pagination, QuerySpec, Value};
use sea_orm::sea_query::{Asterisk, Expr, Func, IntoValueTuple};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    ExprTrait, FromQueryResult, IntoActiveModel, Iterable, ModelTrait, PaginatorTrait,
    PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
    Statement,
};
use tracing::instrument;

use crate::PersistenceError;
use crate::database::Db;

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
        Ok(E::find().filter(self.by_id(key)).one(self.db).await?)
    }

    #[instrument(level = "debug", skip_all)]
    pub async fn insert(&self, values: E::ActiveModel) -> Result<E::Model, PersistenceError>
    where
        E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        Ok(E::insert(values).exec_with_returning(self.db).await?)
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
            update = update.col_expr(version, Expr::col(version).add(VERSION_STEP));
            if let Some(expected) = expected {
                update = update.filter(version.is_in(expected.iter().copied()));
            }
        }
        match update
            .exec_with_returning(self.db)
            .await?
            .into_iter()
            .next()
        {
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
        if delete.exec(self.db).await?.rows_affected > 0 {
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
        let conn = self.db;
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

    async fn cursor_page(
        &self,
        conn: &Db,
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
        conn: &Db,
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
    async fn estimate(conn: &Db, filtered: &Select<E>) -> Result<Option<u64>, PersistenceError> {
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
    use crate::database::Wire;
    use crate::entities::item;

    /// Repository futures hold their connection in an RAII lease and can move between threads.
    #[tokio::test]
    async fn operations_are_send() {
        fn send<T: Send>(_: &T) {}
        let shared = Database::connect("sqlite::memory:").await.unwrap();
        let db = Db::transient(shared, Wire::Prepared);
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
        let db = Db::transient(shared, Wire::Prepared);
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
            assert!(
                matches!(items.get(created.id).await, Ok(None)),
                "round {round}"
            );
        }
    }
}
