//! `cargo run -p migration -- <up|down|status|fresh|refresh|reset|generate NAME>`
//!
//! The database URL comes from `-u`, else `DATABASE_URL`, else the service's own
//! configuration (`config/`, `APP_ENV`, `APP__DATABASE__URL`), so the CLI migrates the
//! database the service would use.

use std::time::Duration;

use infrastructure::PersistenceError;
use infrastructure::database::{create_sqlite_folder, redact};
use std::sync::Mutex;

use migration::{Exclusive, Migrator};
use sea_orm_migration::sea_orm::{ConnectOptions, Database};

mod url;

/// The CLI's right to migrate, kept for the whole run (the connection closes at exit).
static EXCLUSIVE: Mutex<Option<Exclusive>> = Mutex::new(None);

/// How long the CLI waits for the database before it gives up, in one line.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli_with_custom_connection(Migrator, async || {
        let url = url::database_url().unwrap_or_else(|error| fail(&error));
        create_sqlite_folder(&url).unwrap_or_else(|error| fail(&error.to_string()));
        let mut options = ConnectOptions::new(url.clone());
        options
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(CONNECT_TIMEOUT);
        if let Some(schema) = url::database_schema() {
            options.set_schema_search_path(schema);
        }
        // (the library would panic on an error, printing the URL with its password)
        match Database::connect(options).await {
            Ok(db) => {
                // Held until the process exits: one migrating process at a time.
                let exclusive = Exclusive::take(&db).await?;
                *EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(exclusive);
                Ok(db)
            }
            Err(error) => fail(&format!(
                "cannot connect to {}: {}",
                redact(&url),
                PersistenceError::from(error)
                    .to_string()
                    .replace(&url, &redact(&url))
            )),
        }
    })
    .await;
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
