//! `cargo run -p migration -- <up|down|status|fresh|refresh|reset|generate NAME>`
//!
//! The database URL comes from `-u`, else `DATABASE_URL`, else the service's own
//! configuration (`config/`, `APP_ENV`, `APP__DATABASE__URL`), so the CLI migrates the
//! database the service would use.

use migration::Migrator;
use sea_orm_migration::sea_orm::{ConnectOptions, Database};

mod url;

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli_with_custom_connection(Migrator, async || {
        let url = url::database_url().unwrap_or_else(|error| fail(&error));
        url::create_sqlite_folder(&url).unwrap_or_else(|error| fail(&error));
        Database::connect(ConnectOptions::new(url)).await
    })
    .await;
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
