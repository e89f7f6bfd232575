//! Schema migrations, applied by the `migration` CLI or by the api at start-up, one process
//! at a time ([`Exclusive`]).

// sea-orm-migration's trait, and the files `migration generate` writes, take
// `&SchemaManager` with its lifetime elided.
#![allow(elided_lifetimes_in_paths)]

use std::sync::Arc;

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::sqlx::{self, Connection, PgConnection};
use sea_orm_migration::sea_orm::{DatabaseConnection, DbBackend, RuntimeErr};

mod m20261129_000001_create_items;
mod m20261129_000002_create_tokens;
mod m20261129_000003_create_idempotency_keys;
mod m20261129_000004_drop_item_ordering_indexes;
mod m20261206_000005_item_list_indexes;
mod m20261206_000006_create_categories;
mod m20261206_000007_partial_category_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_items::Migration),
            Box::new(m20261129_000002_create_tokens::Migration),
            Box::new(m20261129_000003_create_idempotency_keys::Migration),
            Box::new(m20261129_000004_drop_item_ordering_indexes::Migration),
            Box::new(m20261206_000005_item_list_indexes::Migration),
            Box::new(m20261206_000006_create_categories::Migration),
            Box::new(m20261206_000007_partial_category_index::Migration),
        ]
    }
}

/// The migrations of this build the database has not applied, read only (it creates
/// nothing, so a role without DDL rights may ask). A database ahead of this build (a newer
/// replica migrated it) is not behind.
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let table = Migrator::migration_table_name().to_string();
    let applied: std::collections::HashSet<String> =
        if SchemaManager::new(db).has_table(&table).await? {
            let select = format!("SELECT version FROM {table}");
            db.query_all_raw(sea_orm_migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                select,
            ))
            .await?
            .iter()
            .filter_map(|row| row.try_get_by_index::<String>(0).ok())
            .collect()
        } else {
            Default::default()
        };
    Ok(Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_string())
        .filter(|name| !applied.contains(name))
        .collect())
}

/// Applies every pending migration, holding [`Exclusive`] meanwhile.
pub async fn up(db: &DatabaseConnection) -> Result<(), DbErr> {
    let exclusive = Exclusive::take(db).await?;
    let result = Migrator::up(db, None).await;
    exclusive.release().await;
    result
}

/// The right to migrate a database, one process at a time: replicas that migrate as they
/// start, or a migrate job beside them, would otherwise race to create the same tables (the
/// loser fails with a duplicate key or a table that already exists). On PostgreSQL it is a
/// transaction-scoped advisory lock on a connection of its own, outside the pool the
/// migrations use (a pool of one could not lend the lock's connection and run a migration
/// too). Transaction-scoped, so PgBouncer's transaction pooling cannot lose it to another
/// client, and whatever ends the connection (the process exiting or dying) releases it. On
/// SQLite, whose locks last one transaction while a run is several, it is an exclusive lock
/// on a file beside the database (`app.db-migrate.lock`, kept: removing it would let a
/// process that opened it before lock a file no other process sees), which the operating
/// system releases when the process ends. An in-memory database has no other process.
pub enum Exclusive {
    Postgres(PgConnection),
    Sqlite(std::fs::File),
    Alone,
}

/// The advisory lock's key (advisory locks are per database): "migrate!" in ASCII.
const LOCK_KEY: i64 = 0x6d69_6772_6174_6521;

/// What a process waiting for another's migrations says, once.
const WAITING: &str = "Another process is migrating this database: waiting for it";

impl Exclusive {
    /// Takes it, waiting as long as another process holds it.
    pub async fn take(db: &DatabaseConnection) -> Result<Exclusive, DbErr> {
        match db.get_database_backend() {
            DbBackend::Postgres => Exclusive::postgres(db).await,
            DbBackend::Sqlite => Exclusive::sqlite(db).await,
            _ => Ok(Exclusive::Alone),
        }
    }

    async fn postgres(db: &DatabaseConnection) -> Result<Exclusive, DbErr> {
        let options = db.get_postgres_connection_pool().connect_options();
        let mut connection = PgConnection::connect_with(&options)
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        let exec = |e| DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)));
        // The wait has no deadline: the service's `statement_timeout` may be on the options.
        sqlx::raw_sql("BEGIN; SET LOCAL statement_timeout = 0")
            .execute(&mut connection)
            .await
            .map_err(exec)?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut connection)
            .await
            .map_err(exec)?;
        if !taken {
            // Under the library's target, which its CLI prints by default.
            tracing::info!(target: "sea_orm_migration", "{WAITING}");
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LOCK_KEY)
                .execute(&mut connection)
                .await
                .map_err(exec)?;
        }
        Ok(Exclusive::Postgres(connection))
    }

    async fn sqlite(db: &DatabaseConnection) -> Result<Exclusive, DbErr> {
        let database = db
            .get_sqlite_connection_pool()
            .connect_options()
            .get_filename()
            .to_path_buf();
        // In memory (`:memory:`, `mode=memory`): no file, and no other process to wait for.
        if !database.is_file() {
            return Ok(Exclusive::Alone);
        }
        let mut name = database.into_os_string();
        name.push("-migrate.lock");
        let path = std::path::PathBuf::from(name);
        let failed = |e: std::io::Error| {
            DbErr::Custom(format!("cannot lock {} to migrate: {e}", path.display()))
        };
        // A folder this process cannot write to holds no database it could migrate either:
        // nothing to serialise (and a migrated database still serves).
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            return Ok(Exclusive::Alone);
        };
        match file.try_lock() {
            Ok(()) => Ok(Exclusive::Sqlite(file)),
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!(target: "sea_orm_migration", "{WAITING}");
                tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(|e| DbErr::Custom(e.to_string()))?
                    .map(Exclusive::Sqlite)
                    .map_err(failed)
            }
            Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
        }
    }

    /// Gives it back (a PostgreSQL lock's transaction ends with its connection; a file lock
    /// with its file).
    pub async fn release(self) {
        if let Exclusive::Postgres(connection) = self {
            let _ = connection.close().await;
        }
    }
}
