//! Connections a worker keeps between requests (PostgreSQL).
//!
//! sqlx's pool pings a connection with a full round trip every time it is returned, and sets
//! a timer on every acquire. Taking a connection per query therefore costs a second round
//! trip to the database. Each HTTP worker instead holds up to `keep` connections (its share
//! of the pool) and hands them to its requests in turn; a request finding all of them busy
//! waits for one, up to the acquire timeout. The pool still opens, limits, times out and
//! recovers connections. A connection that failed with anything but a database error, or
//! sat unused long enough to have been dropped by a server or proxy, goes back to the pool
//! (which tests it) instead of being kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sea_orm::error::ConnAcquireErr;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Executor, PgPool, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

/// Kept connections unused for longer than this are handed back to the pool, which pings
/// them before reuse.
const STALE_AFTER: Duration = Duration::from_secs(10);

/// One worker's kept connections.
pub struct Leases {
    pool: PgPool,
    idle: std::sync::Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    /// Send statements with their values inlined over the simple query protocol: no state
    /// left on the server (PgBouncer in transaction mode before 1.21).
    inline: bool,
    /// Keep connections between operations (workers); otherwise return them to the pool.
    retain: bool,
    /// One permit per connection this worker may hold, in use or idle.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    stats: Arc<PoolStats>,
}

/// Counts across all workers, for metrics.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Connections workers keep idle between requests (in use, from the pool's view).
    pub kept_idle: AtomicI64,
    /// Requests waiting for a connection.
    pub waiting: AtomicI64,
}

/// Counts a waiting request for as long as it lives.
struct Waiting<'a>(&'a AtomicI64);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicI64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Leases {
    /// `None` unless `db` is a PostgreSQL pool.
    pub fn new(
        db: &DatabaseConnection,
        keep: usize,
        stats: Arc<PoolStats>,
        inline: bool,
    ) -> Option<Leases> {
        match db.get_database_backend() {
            DbBackend::Postgres if keep > 0 => {
                let pool = db.get_postgres_connection_pool().clone();
                Some(Leases {
                    acquire_timeout: pool.options().get_acquire_timeout(),
                    pool,
                    idle: std::sync::Mutex::new(Vec::with_capacity(keep)),
                    inline,
                    retain: true,
                    permits: Arc::new(Semaphore::new(keep)),
                    stats,
                })
            }
            _ => None,
        }
    }

    pub async fn lease(&self) -> Result<Lease, DbErr> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _waiting = Waiting::new(&self.stats.waiting);
                tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
                    .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?
            }
        };
        loop {
            let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if kept.is_some() {
                self.stats.kept_idle.fetch_sub(1, Ordering::Relaxed);
            }
            match kept {
                Some((connection, since)) if since.elapsed() < STALE_AFTER => {
                    return Ok(Lease::new(connection, permit, self.inline));
                }
                Some(stale) => drop(stale),
                None => break,
            }
        }
        // Boxed: the pool's acquire (which may connect) is a large future, and every
        // request's future would otherwise carry room for it and be copied with it.
        let connection = Box::pin(self.pool.acquire()).await.map_err(acquire_error)?;
        Ok(Lease::new(connection, permit, self.inline))
    }

    /// The same, returning each connection to the pool after its operation.
    pub fn transient(self) -> Leases {
        Leases {
            retain: false,
            ..self
        }
    }

    /// Keeps the connection for the next request, unless it broke.
    pub fn give_back(&self, lease: Lease) {
        if self.retain && !lease.broken.load(Ordering::Relaxed) {
            let connection = lease.connection.into_inner();
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((connection, Instant::now()));
            self.stats.kept_idle.fetch_add(1, Ordering::Relaxed);
        }
        // The permit is released as the lease is dropped: after its connection is idle again.
    }
}

/// A connection taken for one operation.
pub struct Lease {
    connection: Mutex<PoolConnection<Postgres>>,
    broken: AtomicBool,
    inline: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn new(
        connection: PoolConnection<Postgres>,
        permit: OwnedSemaphorePermit,
        inline: bool,
    ) -> Lease {
        Lease {
            connection: Mutex::new(connection),
            broken: AtomicBool::new(false),
            inline,
            _permit: permit,
        }
    }

    /// An error other than the database refusing a statement leaves the connection in doubt.
    fn failed(&self, error: sqlx::Error, wrap: fn(RuntimeErr) -> DbErr) -> DbErr {
        if !matches!(error, sqlx::Error::Database(_)) {
            self.broken.store(true, Ordering::Relaxed);
        }
        wrap(RuntimeErr::SqlxError(Arc::new(error)))
    }
}

fn acquire_error(error: sqlx::Error) -> DbErr {
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

/// The statement for the extended protocol (prepared once per connection by sqlx), taking its
/// SQL and values as they are: no copy of either.
fn query(statement: Statement) -> sqlx::query::Query<'static, Postgres, SqlxValues> {
    let values = statement.values.unwrap_or(sea_orm::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
}

/// The statement with its values written in as literals (sea-query's quoting), for the
/// simple query protocol.
fn inlined(statement: &Statement) -> String {
    match &statement.values {
        Some(values) if !values.0.is_empty() => sea_orm::sea_query::inject_parameters(
            &statement.sql,
            &values.0,
            &sea_orm::sea_query::PostgresQueryBuilder,
        ),
        _ => statement.sql.clone(),
    }
}

#[async_trait]
impl ConnectionTrait for Lease {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        if self.inline {
            return self.execute_unprepared(&inlined(&statement)).await;
        }
        let mut connection = self.connection.lock().await;
        match query(statement).execute(&mut **connection).await {
            Ok(result) => Ok(result.into()),
            Err(error) => Err(self.failed(error, DbErr::Exec)),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut connection = self.connection.lock().await;
        match connection
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
        {
            Ok(result) => Ok(result.into()),
            Err(error) => Err(self.failed(error, DbErr::Exec)),
        }
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut connection = self.connection.lock().await;
        let row = if self.inline {
            connection
                .fetch_optional(sqlx::AssertSqlSafe(inlined(&statement)))
                .await
        } else {
            query(statement).fetch_optional(&mut **connection).await
        };
        row.map(|row| row.map(Into::into))
            .map_err(|error| self.failed(error, DbErr::Query))
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut connection = self.connection.lock().await;
        let rows = if self.inline {
            connection
                .fetch_all(sqlx::AssertSqlSafe(inlined(&statement)))
                .await
        } else {
            query(statement).fetch_all(&mut **connection).await
        };
        rows.map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(|error| self.failed(error, DbErr::Query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_values_are_quoted() {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM items WHERE name = $1 AND price >= $2 AND id IN ($3, $4)",
            [
                "O'Brien \\ $1 --".into(),
                2.5f64.into(),
                7i64.into(),
                8i64.into(),
            ],
        );
        let sql = inlined(&statement);
        assert!(sql.contains("E'O\\'Brien"), "{sql}");
        assert!(sql.ends_with("price >= 2.5 AND id IN (7, 8)"), "{sql}");
    }
}
