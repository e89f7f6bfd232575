//! [`Db`]: how one HTTP worker's requests reach the database.

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

use std::sync::Arc;

use super::lease::{Lease, Leases, PoolStats};

/// The shared SeaORM pool, plus on PostgreSQL the connections this worker keeps leased.
/// One per worker (it is not `Sync`); cheap to build.
pub struct Db {
    shared: DatabaseConnection,
    leases: Option<Leases>,
}

/// A connection for one operation: the shared pool itself, or a leased connection.
pub enum Conn<'a> {
    Shared(&'a DatabaseConnection),
    Leased(Lease),
}

impl Db {
    /// `keep`: how many connections this worker may hold between requests; `stats` is
    /// shared by all workers; without `prepared_statements` (PgBouncer in transaction mode
    /// before 1.21) statements go out with their values inlined, leaving no server state.
    pub fn new(
        shared: DatabaseConnection,
        keep: usize,
        stats: Arc<PoolStats>,
        prepared_statements: bool,
    ) -> Db {
        let leases = Leases::new(&shared, keep, stats, !prepared_statements);
        Db { shared, leases }
    }

    /// A handle for occasional work (housekeeping, the CLI): it keeps no connection between
    /// operations, but talks to the database the way the workers do.
    pub fn transient(shared: DatabaseConnection, prepared_statements: bool) -> Db {
        let leases = Leases::new(
            &shared,
            1,
            Arc::new(PoolStats::default()),
            !prepared_statements,
        )
        .map(Leases::transient);
        Db { shared, leases }
    }

    pub fn shared(&self) -> &DatabaseConnection {
        &self.shared
    }

    pub async fn conn(&self) -> Result<Conn<'_>, DbErr> {
        match &self.leases {
            Some(leases) => Ok(Conn::Leased(leases.lease().await?)),
            None => Ok(Conn::Shared(&self.shared)),
        }
    }

    /// Hands a connection back after its operation.
    pub fn release(&self, conn: Conn<'_>) {
        if let (Conn::Leased(lease), Some(leases)) = (conn, &self.leases) {
            leases.give_back(lease);
        }
    }
}

#[async_trait]
impl ConnectionTrait for Conn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Conn::Shared(db) => db.get_database_backend(),
            Conn::Leased(lease) => lease.get_database_backend(),
        }
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Shared(db) => db.execute_raw(statement).await,
            Conn::Leased(lease) => lease.execute_raw(statement).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Shared(db) => db.execute_unprepared(sql).await,
            Conn::Leased(lease) => lease.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Conn::Shared(db) => db.query_one_raw(statement).await,
            Conn::Leased(lease) => lease.query_one_raw(statement).await,
        }
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Conn::Shared(db) => db.query_all_raw(statement).await,
            Conn::Leased(lease) => lease.query_all_raw(statement).await,
        }
    }
}
