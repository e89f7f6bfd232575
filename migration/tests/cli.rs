//! The migration CLI against a fresh SQLite file and a fresh PostgreSQL database: every
//! command exits 0, and after `up` the `items` table has its columns.

use std::process::{Command, Output};

use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

const COMMANDS: [&str; 8] = [
    "status", "up", "down", "up", "fresh", "refresh", "reset", "up",
];
const COLUMNS: [&str; 8] = [
    "id",
    "name",
    "description",
    "price",
    "in_stock",
    "created_at",
    "updated_at",
    "version",
];

fn cli(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migration"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("APP__DATABASE__URL");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn run_every_command(url: &str) {
    for command in COMMANDS {
        let output = cli(&["-u", url, command], &[]);
        assert!(
            output.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

async fn columns(url: &str, sql: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    let mut names: Vec<String> = rows
        .iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect();
    names.sort();
    names
}

/// The items table's indexes besides its primary key: one per ordering field after `up`;
/// stepping down removes them, then brings back the two the first migration made; `up`
/// restores the four.
async fn check_item_indexes(url: &str, sql: &str) {
    let listed = [
        "idx_items_name_id",
        "idx_items_price_id",
        "idx_items_created_at_id",
        "idx_items_updated_at_id",
    ];
    let step = |args: &[&str]| {
        let output = cli(args, &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    assert_eq!(columns(url, sql).await, sorted(&listed));
    step(&["-u", url, "down", "-n", "1"]);
    assert_eq!(columns(url, sql).await, Vec::<String>::new());
    step(&["-u", url, "down", "-n", "1"]);
    assert_eq!(
        columns(url, sql).await,
        sorted(&["idx_items_name_id", "idx_items_price_id"])
    );
    step(&["-u", url, "up"]);
    assert_eq!(columns(url, sql).await, sorted(&listed));
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_command_works_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/app.db?mode=rwc", dir.path().display());
    run_every_command(&url);
    let names = columns(&url, "SELECT name FROM pragma_table_info('items')").await;
    assert_eq!(names, sorted(&COLUMNS));
    let indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' \
                   AND name NOT LIKE 'sqlite_autoindex%'";
    check_item_indexes(&url, indexes).await;
}

#[tokio::test]
async fn every_command_works_on_postgres() {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = match Database::connect(&admin_url).await {
        Ok(db) => db,
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL unreachable ({error}) and CI is set")
        }
        Err(error) => {
            use std::io::Write;
            let line =
                format!("!!! SKIPPED: PostgreSQL unreachable at TEST_DATABASE_URL ({error})\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return;
        }
    };
    let name = format!("test_migration_{}", std::process::id());
    let create = format!("CREATE DATABASE \"{name}\"");
    admin
        .execute_raw(Statement::from_string(DbBackend::Postgres, create))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    run_every_command(&url);
    let names = columns(
        &url,
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'items'",
    )
    .await;
    let indexes = "SELECT indexname::text FROM pg_indexes WHERE tablename = 'items' \
                   AND indexname <> 'items_pkey'";
    check_item_indexes(&url, indexes).await;
    let drop = format!("DROP DATABASE \"{name}\" WITH (FORCE)");
    admin
        .execute_raw(Statement::from_string(DbBackend::Postgres, drop))
        .await
        .unwrap();
    assert_eq!(names, sorted(&COLUMNS));
}

#[tokio::test]
async fn the_url_comes_from_the_service_configuration_when_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/from-config.db?mode=rwc", dir.path().display());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config");
    let output = cli(
        &["up"],
        &[("APP_CONFIG_DIR", config), ("APP__DATABASE__URL", &url)],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("from-config.db").exists());
}

#[test]
fn without_any_url_it_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = cli(&["up"], &[("APP_CONFIG_DIR", dir.path().to_str().unwrap())]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
