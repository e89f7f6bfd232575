//! `cargo run -p migration -- <up|down|status|fresh|refresh|reset|generate NAME>`
//!
//! The database URL comes from `-u`, else `DATABASE_URL`, else the service's own
//! configuration (`config/`, `APP_ENV`, `APP__DATABASE__URL`), so the CLI migrates the
//! database the service would use.

use std::time::Duration;

use infrastructure::PersistenceError;
use infrastructure::database::{create_sqlite_folder, redact, url_backend};
use std::sync::Mutex;

use migration::{Exclusive, Migrator};
use sea_orm_migration::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

mod url;

/// The CLI's right to migrate, kept for the whole run (the connection closes at exit).
static EXCLUSIVE: Mutex<Option<Exclusive>> = Mutex::new(None);

/// How long the CLI waits for the database before it gives up, in one line.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli_with_custom_connection(Migrator, async || {
        let url = url::database_url().unwrap_or_else(|error| fail(&error));
        url_backend(&url).unwrap_or_else(|problem| fail(&format!("database URL: {problem}")));
        create_sqlite_folder(&url).unwrap_or_else(|error| fail(&error.to_string()));
        let mut options = ConnectOptions::new(url.clone());
        options
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(CONNECT_TIMEOUT);
        let schema = url::database_schema();
        if let Some(schema) = &schema {
            options.set_schema_search_path(schema.clone());
        }
        // (the library would panic on an error, printing the URL with its password)
        match Database::connect(options).await {
            Ok(db) => {
                if let Some(schema) = &schema {
                    check_schema(&db, schema).await;
                }
                // Held until the process exits: one migrating process at a time.
                let exclusive = Exclusive::take(&db).await?;
                *EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(exclusive);
                Ok(db)
            }
            Err(error) => {
                // An outage says so; anything else (no such database or role, a refused
                // password) is the database's own words.
                let detail = match PersistenceError::from(error) {
                    PersistenceError::Unexpected(detail) | PersistenceError::Connect(detail) => {
                        detail
                    }
                    other => other.to_string(),
                };
                fail(&format!(
                    "cannot connect to {}: {}",
                    redact(&url),
                    detail.replace(&url, &redact(&url))
                ))
            }
        }
    })
    .await;
}

/// A PostgreSQL schema named with `-s` must exist: PostgreSQL's own error for a missing one
/// ("no schema has been selected to create in") names neither the schema nor the cause.
async fn check_schema(db: &DatabaseConnection, schema: &str) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let exists = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
            [schema.into()],
        ))
        .await;
    match exists {
        Ok(Some(_)) => {}
        Ok(None) => fail(&format!(
            "schema \"{schema}\" does not exist in this database: create it first (CREATE SCHEMA ...)"
        )),
        Err(error) => fail(&PersistenceError::from(error).to_string()),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
