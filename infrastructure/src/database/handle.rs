//! [`Db`]: how one HTTP worker's statements reach the database. It is a SeaORM connection
//! (`.one(db)`, `.all(db)`, `.exec(db)`), so every operation takes one path: SeaORM builds the
//! statement, `Db` runs it on a connection lent for that statement alone.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

use super::deadline;
use super::lease::{Fetch, Fetched, Leases, PoolStats};
use crate::repository::Statements;

/// How statements go out on PostgreSQL (`database.prepared_statements`), and how the
/// statement timeout (`database.statement_timeout_ms`) goes with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The extended protocol, each statement prepared once per connection. The statement
    /// timeout is the connection's, set when it opens (see [`super::connect`]).
    Prepared { statement_timeout_ms: u64 },
    /// Values inlined over the simple query protocol, leaving no state on the server
    /// (PgBouncer in transaction mode before 1.21). Each statement goes out as
    /// `SET LOCAL statement_timeout = N; <statement>` in one message: the same round trip,
    /// one implicit transaction on one server connection whatever pools it, and nothing left
    /// set afterwards. 0: no timeout of the service's own.
    Inline { statement_timeout_ms: u64 },
}

impl Wire {
    /// The statement timeout statements go out under (0: none of the service's own).
    pub fn statement_timeout_ms(self) -> u64 {
        match self {
            Wire::Prepared {
                statement_timeout_ms,
            }
            | Wire::Inline {
                statement_timeout_ms,
            } => statement_timeout_ms,
        }
    }
}

/// The shared SeaORM pool, plus on PostgreSQL the connections this worker keeps leased.
/// One per worker; cheap to build.
pub struct Db {
    shared: DatabaseConnection,
    leases: Option<Arc<Leases>>,
    stats: Arc<PoolStats>,
    statements: Statements,
}

impl Db {
    /// `keep`: how many connections this worker may hold between statements; `stats` is
    /// shared by all workers; `wire`: how statements go out ([`Wire`]).
    pub fn new(shared: DatabaseConnection, keep: usize, stats: Arc<PoolStats>, wire: Wire) -> Db {
        Self::with(shared, keep, stats, wire, true)
    }

    /// A handle for occasional work (housekeeping, the CLI): it keeps no connection between
    /// statements, but talks to the database the way the workers do. On PostgreSQL each
    /// statement's connection is closed after it, not given back to the pool, where an HTTP
    /// worker could take it and keep it: its socket would answer to this runtime, not the
    /// worker's (see `database::close_idle`).
    pub fn transient(shared: DatabaseConnection, wire: Wire) -> Db {
        Self::with(shared, 1, Arc::new(PoolStats::default()), wire, false)
    }

    fn with(
        shared: DatabaseConnection,
        keep: usize,
        stats: Arc<PoolStats>,
        wire: Wire,
        retain: bool,
    ) -> Db {
        let leases = match shared.get_database_backend() {
            DbBackend::Postgres if keep > 0 => Some(Arc::new(Leases::new(
                shared.get_postgres_connection_pool().clone(),
                keep,
                stats.clone(),
                wire,
                retain,
            ))),
            _ => None,
        };
        Db {
            shared,
            leases,
            stats,
            statements: Statements::default(),
        }
    }

    /// Opens `count` connections for this worker to keep (PostgreSQL; elsewhere the pool
    /// keeps its own `database.min_connections`).
    pub async fn warm(&self, count: usize) {
        if let Some(leases) = &self.leases {
            leases.warm(count).await;
        }
    }

    fn count(&self) {
        self.stats.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// The SQL of the statement shapes this handle has sent.
    pub fn statements(&self) -> &Statements {
        &self.statements
    }

    pub fn shared(&self) -> &DatabaseConnection {
        &self.shared
    }

    /// Notes a write about to go out on `shared` (a transaction of the repository's own).
    pub fn sending_write(&self) {
        deadline::sending_write(self.leases.as_ref().is_none_or(|leases| leases.bounded()));
    }

    /// SQLite, which bounds every write by its busy timeout: notes one about to go out.
    fn sqlite_sends(sql: &str) {
        if !is_read(sql) {
            deadline::sending_write(true);
        }
    }

    /// Runs one statement on a lent connection. A read (`SELECT`) whose connection failed
    /// is run once more on another: the first failure after a database restart costs
    /// nothing, and a read changes nothing if it did reach the database. A statement the
    /// database refused or cancelled (an error of its own, such as the statement timeout)
    /// leaves the connection usable and is not run again: a read that timed out would only
    /// time out twice.
    async fn run(
        leases: &Arc<Leases>,
        statement: Statement,
        fetch: Option<Fetch>,
    ) -> Result<Fetched, DbErr> {
        if !is_read(&statement.sql) {
            let mut lease = leases.lease().await?;
            deadline::sending_write(leases.bounded());
            return lease.run(statement, fetch).await;
        }
        let mut lease = leases.lease().await?;
        match lease.run(statement.clone(), fetch).await {
            Err(_) if lease.is_broken() => {
                drop(lease);
                leases.lease().await?.run(statement, fetch).await
            }
            result => result,
        }
    }
}

/// Statements that only read: safe to run twice. A `SELECT`, or the planner's estimate of
/// one (`EXPLAIN` without `ANALYZE` runs nothing), as lists send first to choose a count.
fn is_read(sql: &str) -> bool {
    let sql = sql.strip_prefix(EXPLAIN).unwrap_or(sql);
    sql.get(..7)
        .is_some_and(|start| start.eq_ignore_ascii_case("SELECT "))
}

/// How the repository asks for a statement's plan.
pub(crate) const EXPLAIN: &str = "EXPLAIN (FORMAT JSON) ";

#[async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.shared.get_database_backend()
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        self.count();
        let Some(leases) = &self.leases else {
            Self::sqlite_sends(&statement.sql);
            return self.shared.execute_raw(statement).await;
        };
        match Self::run(leases, statement, None).await? {
            Fetched::Done(result) => Ok(result),
            _ => unreachable!("an execution returns no rows"),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.leases {
            Some(_) => {
                self.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
            }
            None => {
                self.count();
                Self::sqlite_sends(sql);
                self.shared.execute_unprepared(sql).await
            }
        }
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.count();
        let Some(leases) = &self.leases else {
            Self::sqlite_sends(&statement.sql);
            return self.shared.query_one_raw(statement).await;
        };
        match Self::run(leases, statement, Some(Fetch::One)).await? {
            Fetched::One(row) => Ok(row),
            _ => unreachable!("asked for one row"),
        }
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.count();
        let Some(leases) = &self.leases else {
            Self::sqlite_sends(&statement.sql);
            return self.shared.query_all_raw(statement).await;
        };
        match Self::run(leases, statement, Some(Fetch::All)).await? {
            Fetched::All(rows) => Ok(rows),
            _ => unreachable!("asked for all rows"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_are_reads() {
        assert!(is_read("SELECT \"items\".\"id\" FROM \"items\""));
        assert!(is_read("select 1 "));
        assert!(!is_read("INSERT INTO \"items\" VALUES ($1) RETURNING *"));
        assert!(!is_read("UPDATE items SET a = 1"));
        assert!(!is_read("SELECT"));
        assert!(is_read(
            "EXPLAIN (FORMAT JSON) SELECT \"items\".\"id\" FROM \"items\""
        ));
        assert!(!is_read("EXPLAIN (FORMAT JSON) UPDATE items SET a = 1"));
        assert!(!is_read("EXPLAIN (ANALYZE) SELECT 1 "));
    }
}
