//! Connections a worker keeps between requests (PostgreSQL), handed out as RAII [`Lease`]s.
//!
//! sqlx's pool pings a connection with a full round trip every time it is returned, and sets
//! a timer on every acquire. Taking a connection per statement from it would cost a second
//! round trip each time. Each HTTP worker instead keeps up to `keep` connections (its share
//! of the pool) and lends them to its statements in turn; a statement finding all of them
//! busy waits for one, up to the acquire timeout. The pool still opens, limits, times out and
//! recovers connections.
//!
//! A lease goes back on drop, on every path. What happens then depends on how it ended:
//! - its statement finished: the connection is kept for the next statement;
//! - its future was dropped mid-statement (the client went away, a timeout): the connection,
//!   whose answer is still on the wire, goes back to the pool once that answer is read off,
//!   and is closed if it does not come within the acquire timeout;
//! - it failed with anything but the database refusing the statement (or with the database
//!   saying the connection is over, as a restart does): the connection is closed, and so is
//!   every connection any worker kept idle from before that moment: after a restart of the
//!   database, none of them is alive.
//!
//! A kept connection idle for longer than [`CHECK_AFTER`] is pinged before use, as pgx and
//! HikariCP do: a database restarted while the service was quiet costs no request.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::error::ConnAcquireErr;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Connection, Executor, PgPool, Postgres};
use sea_orm::{DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;

use super::Wire;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Kept connections unused for longer than this are pinged before their next statement.
pub const CHECK_AFTER: Duration = Duration::from_secs(1);

/// One worker's kept connections.
pub struct Leases {
    pool: PgPool,
    idle: std::sync::Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    /// `Some(prefix)`: send statements with their values inlined over the simple query
    /// protocol, no state left on the server (PgBouncer in transaction mode before 1.21),
    /// each after `prefix` (the statement timeout, or nothing): see [`Wire::Inline`].
    inline: Option<Box<str>>,
    /// Keep connections between statements (workers); otherwise close them after each.
    retain: bool,
    /// One permit per connection this worker may hold, in use or idle.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    /// How long a statement may go unanswered before its connection counts as stalled:
    /// the statement timeout plus [`STALL_GRACE`] (the database cancels a statement at its
    /// timeout and says so at once; silence past that is the network or a hung server).
    /// `None` without a statement timeout: the request's own timeout is the limit.
    deadline: Option<Duration>,
    stats: Arc<PoolStats>,
}

/// How long past the statement timeout its cancellation may take to arrive.
const STALL_GRACE: Duration = Duration::from_secs(1);

/// Counts across all workers, for metrics, and the moment of the last connection failure.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Connections workers keep idle between requests (in use, from the pool's view).
    pub kept_idle: AtomicI64,
    /// Requests waiting for a connection.
    pub waiting: AtomicI64,
    /// Connections closed after a connection-level failure or a failed check.
    pub discarded: AtomicU64,
    /// Statements the workers sent (`db_statements_total`): what requests cost the database.
    pub statements: AtomicU64,
    /// When a connection last failed, in nanoseconds after [`epoch`] (0: never).
    last_failure: AtomicU64,
}

/// The origin of [`PoolStats::last_failure`].
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

impl PoolStats {
    fn failed_now(&self) {
        self.last_failure
            .fetch_max(since_epoch(Instant::now()).max(1), Ordering::Relaxed);
    }

    /// Whether a connection failed after `at` (one kept idle since then is suspect).
    fn failed_since(&self, at: Instant) -> bool {
        self.last_failure.load(Ordering::Relaxed) >= since_epoch(at).max(1)
    }
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
    pub fn new(
        pool: PgPool,
        keep: usize,
        stats: Arc<PoolStats>,
        wire: Wire,
        retain: bool,
    ) -> Leases {
        let statement_timeout_ms = wire.statement_timeout_ms();
        let inline = match wire {
            Wire::Prepared { .. } => None,
            Wire::Inline {
                statement_timeout_ms: 0,
            } => Some("".into()),
            Wire::Inline {
                statement_timeout_ms: ms,
            } => Some(format!("SET LOCAL statement_timeout = {ms}; ").into()),
        };
        Leases {
            acquire_timeout: pool.options().get_acquire_timeout(),
            deadline: (statement_timeout_ms > 0)
                .then(|| Duration::from_millis(statement_timeout_ms) + STALL_GRACE),
            pool,
            idle: std::sync::Mutex::new(Vec::with_capacity(keep)),
            inline,
            retain,
            permits: Arc::new(Semaphore::new(keep.max(1))),
            stats,
        }
    }

    /// Whether the database ends every statement in time (`database.statement_timeout_ms`,
    /// and the stall deadline past it).
    pub(super) fn bounded(&self) -> bool {
        self.deadline.is_some()
    }

    /// A connection for one statement: a kept one (checked if it sat idle), else the pool's.
    pub async fn lease(self: &Arc<Self>) -> Result<Lease, DbErr> {
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
        while let Some((mut connection, since)) = self.take_idle() {
            if self.stats.failed_since(since) {
                self.discard(connection);
                continue;
            }
            if since.elapsed() >= CHECK_AFTER && !self.answers(&mut connection).await {
                self.discard(connection);
                self.failed();
                continue;
            }
            return Ok(self.lend(connection, permit));
        }
        // Boxed: the pool's acquire (which may connect) is a large future, and every
        // request's future would otherwise carry room for it and be copied with it.
        let connection = Box::pin(self.pool.acquire()).await.map_err(acquire_error)?;
        Ok(self.lend(connection, permit))
    }

    /// Opens up to `count` connections and keeps them idle (`database.min_connections`),
    /// from the runtime that will use them. Each holds a permit while it opens, as a
    /// statement's would, so that the worker never holds more than its share; stops when
    /// requests hold every permit (they open their own) or a connection fails to open (the
    /// requests then open theirs as they come).
    pub async fn warm(&self, count: usize) {
        for _ in 0..count {
            let Ok(_opening) = self.permits.try_acquire() else {
                return;
            };
            match self.pool.acquire().await {
                Ok(connection) => self.keep(connection),
                Err(error) => {
                    tracing::debug!(%error, "opening the connections to keep failed");
                    return;
                }
            }
        }
    }

    fn keep(&self, connection: PoolConnection<Postgres>) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((connection, Instant::now()));
        self.stats.kept_idle.fetch_add(1, Ordering::Relaxed);
    }

    fn take_idle(&self) -> Option<(PoolConnection<Postgres>, Instant)> {
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if kept.is_some() {
            self.stats.kept_idle.fetch_sub(1, Ordering::Relaxed);
        }
        kept
    }

    fn lend(
        self: &Arc<Self>,
        connection: PoolConnection<Postgres>,
        permit: OwnedSemaphorePermit,
    ) -> Lease {
        Lease {
            connection: Some(connection),
            home: self.clone(),
            state: State::Ready,
            _permit: permit,
        }
    }

    /// Does the connection answer a ping within the acquire timeout? (Its pending answers, if
    /// any, are read off first.)
    async fn answers(&self, connection: &mut PoolConnection<Postgres>) -> bool {
        matches!(
            tokio::time::timeout(self.acquire_timeout, connection.ping()).await,
            Ok(Ok(()))
        )
    }

    /// A connection whose statement's answer is still on the wire (its future was dropped):
    /// read off in the background, then back to the pool. One that does not answer within
    /// the acquire timeout (a stalled network path, a hung server) is closed instead: the
    /// pool's own test on return has no deadline, and would hold a slot of the pool for good.
    fn settle(self: &Arc<Self>, mut connection: PoolConnection<Postgres>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.discard(connection);
        };
        let home = self.clone();
        runtime.spawn(async move {
            if !home.answers(&mut connection).await {
                home.discard(connection);
            }
        });
    }

    /// After a connection-level failure: every connection idle from before it is suspect.
    /// The pool's own idle ones are closed now; those workers keep are closed when next
    /// taken (see [`PoolStats::failed_since`]).
    fn failed(&self) {
        self.stats.failed_now();
        while let Some(connection) = self.pool.try_acquire() {
            self.discard(connection);
        }
    }

    /// Closes a connection instead of returning it to the pool.
    fn discard(&self, mut connection: PoolConnection<Postgres>) {
        self.stats.discarded.fetch_add(1, Ordering::Relaxed);
        connection.close_on_drop();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    /// A statement was sent and its answer not read: the future was dropped mid-statement
    /// if the lease is dropped in this state.
    InFlight,
    /// A connection-level failure: the connection cannot be trusted again.
    Broken,
    /// No answer within the deadline: the network path or the server is stalled.
    Stalled,
}

/// A connection lent for one statement; it goes back when dropped.
pub struct Lease {
    connection: Option<PoolConnection<Postgres>>,
    home: Arc<Leases>,
    state: State,
    // Dropped after `drop` has put the connection back: a waiting statement then finds it.
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        match self.state {
            State::Broken | State::Stalled => {
                self.home.discard(connection);
                self.home.failed();
            }
            State::InFlight => self.home.settle(connection),
            // Occasional work: closed, not given back (see `Db::transient`).
            State::Ready if !self.home.retain => {
                let mut connection = connection;
                connection.close_on_drop();
            }
            State::Ready => self.home.keep(connection),
        }
    }
}

/// How a statement's rows come back.
#[derive(Debug, Clone, Copy)]
pub enum Fetch {
    One,
    All,
}

/// What a statement returned.
pub enum Fetched {
    Done(ExecResult),
    One(Option<QueryResult>),
    All(Vec<QueryResult>),
}

impl Lease {
    /// Whether the last statement failed at the connection level.
    pub fn is_broken(&self) -> bool {
        self.state == State::Broken
    }

    /// Runs `statement`; `None` executes it without reading rows.
    pub async fn run(
        &mut self,
        statement: Statement,
        fetch: Option<Fetch>,
    ) -> Result<Fetched, DbErr> {
        let inline = self.home.inline.as_deref();
        let connection = self
            .connection
            .as_deref_mut()
            .expect("a lease holds its connection until dropped");
        self.state = State::InFlight;
        let work = async {
            if let Some(prefix) = inline {
                let sql = sqlx::AssertSqlSafe(inlined(prefix, &statement));
                match fetch {
                    None => connection
                        .execute(sql)
                        .await
                        .map(|r| Fetched::Done(r.into())),
                    Some(Fetch::One) => connection
                        .fetch_optional(sql)
                        .await
                        .map(|row| Fetched::One(row.map(Into::into))),
                    Some(Fetch::All) => connection
                        .fetch_all(sql)
                        .await
                        .map(|rows| Fetched::All(rows.into_iter().map(Into::into).collect())),
                }
            } else {
                let query = query(statement);
                match fetch {
                    None => query
                        .execute(&mut *connection)
                        .await
                        .map(|r| Fetched::Done(r.into())),
                    Some(Fetch::One) => query
                        .fetch_optional(&mut *connection)
                        .await
                        .map(|row| Fetched::One(row.map(Into::into))),
                    Some(Fetch::All) => query
                        .fetch_all(&mut *connection)
                        .await
                        .map(|rows| Fetched::All(rows.into_iter().map(Into::into).collect())),
                }
            }
        };
        let result = match self.home.deadline {
            None => work.await,
            Some(deadline) => match tokio::time::timeout(deadline, work).await {
                Ok(result) => result,
                Err(_) => {
                    // Not retried: another connection would most likely wait as long.
                    self.state = State::Stalled;
                    return Err(DbErr::Conn(RuntimeErr::Internal(
                        "no answer from the database within the statement timeout".into(),
                    )));
                }
            },
        };
        match result {
            Ok(fetched) => {
                self.state = State::Ready;
                Ok(fetched)
            }
            Err(error) => {
                // The database refusing or cancelling a statement (a constraint, the statement
                // timeout) leaves the connection fine: it answered, and is ready for more.
                // Unless what it answered is that the connection is over: a shutdown or
                // restart (`57P01` and the rest of class 57P), or a connection exception
                // (class 08).
                self.state = match &error {
                    sqlx::Error::Database(refusal) if !ends_the_connection(refusal.code()) => {
                        State::Ready
                    }
                    _ => State::Broken,
                };
                let error = RuntimeErr::SqlxError(Arc::new(error));
                Err(match fetch {
                    None => DbErr::Exec(error),
                    Some(_) => DbErr::Query(error),
                })
            }
        }
    }
}

/// Does an error with this SQLSTATE end its connection? Class 08 (connection exception) and
/// class 57P (the server shutting down, crashed, starting, or the database dropped), as
/// pgx's and the JDBC driver's connection-loss checks have it; not 57014 (a cancelled
/// statement, after which the connection goes on).
fn ends_the_connection(code: Option<std::borrow::Cow<'_, str>>) -> bool {
    code.is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
}

pub(super) fn acquire_error(error: sqlx::Error) -> DbErr {
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

/// `prefix`, then the statement with its values written in as literals (sea-query's
/// quoting), for the simple query protocol.
fn inlined(prefix: &str, statement: &Statement) -> String {
    let sql = match &statement.values {
        Some(values) if !values.0.is_empty() => sea_orm::sea_query::inject_parameters(
            &statement.sql,
            &values.0,
            &sea_orm::sea_query::PostgresQueryBuilder,
        ),
        _ => return format!("{prefix}{}", statement.sql),
    };
    if prefix.is_empty() {
        sql
    } else {
        format!("{prefix}{sql}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

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
        let sql = inlined("", &statement);
        assert!(sql.starts_with("SELECT * FROM items WHERE"), "{sql}");
        assert!(sql.contains("E'O\\'Brien"), "{sql}");
        assert!(sql.ends_with("price >= 2.5 AND id IN (7, 8)"), "{sql}");
        let sql = inlined("SET LOCAL statement_timeout = 250; ", &statement);
        assert!(
            sql.starts_with("SET LOCAL statement_timeout = 250; SELECT * FROM items WHERE"),
            "{sql}"
        );
    }

    #[test]
    fn shutdowns_and_connection_exceptions_end_the_connection() {
        for code in ["57P01", "57P02", "57P03", "08006", "08003"] {
            assert!(ends_the_connection(Some(code.into())), "{code}");
        }
        for code in ["57014", "23505", "23503", "40001"] {
            assert!(!ends_the_connection(Some(code.into())), "{code}");
        }
        assert!(!ends_the_connection(None));
    }

    #[test]
    fn a_failure_marks_connections_idle_before_it() {
        let stats = PoolStats::default();
        let before = Instant::now();
        assert!(!stats.failed_since(before));
        std::thread::sleep(Duration::from_millis(2));
        stats.failed_now();
        assert!(stats.failed_since(before));
        std::thread::sleep(Duration::from_millis(2));
        assert!(!stats.failed_since(Instant::now()));
    }
}
