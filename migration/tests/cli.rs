//! The migration CLI against a fresh SQLite file and a fresh PostgreSQL database: every
//! command exits 0, after `up` the `items` table has its columns, each step down and back up
//! leaves the indexes it should, and rows survive it.

use std::process::{Command, Output, Stdio};

use sea_orm_migration::sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr, Statement,
};

const COMMANDS: [&str; 8] = [
    "status", "up", "down", "up", "fresh", "refresh", "reset", "up",
];
/// The columns of `items` before `create_categories`.
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
/// `create_categories` adds it.
const CATEGORY_ID: &str = "category_id";

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

/// How to read one database's catalog.
struct Catalog {
    /// The names of `items`' indexes besides its primary key.
    item_indexes: &'static str,
    /// The names of `categories`' indexes besides its primary key.
    category_indexes: &'static str,
    /// The names of `items`' columns.
    item_columns: &'static str,
    /// The names of the tables.
    tables: &'static str,
    /// The definition of `items`' index over the rows with a category.
    category_index: &'static str,
}

const SQLITE: Catalog = Catalog {
    item_indexes: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' \
                   AND name NOT LIKE 'sqlite_autoindex%'",
    category_indexes: "SELECT name FROM sqlite_master WHERE type = 'index' \
                       AND tbl_name = 'categories' AND name NOT LIKE 'sqlite_autoindex%'",
    item_columns: "SELECT name FROM pragma_table_info('items')",
    tables: "SELECT name FROM sqlite_master WHERE type = 'table'",
    category_index: "SELECT sql FROM sqlite_master WHERE name = 'idx_items_with_category'",
};

const POSTGRES: Catalog = Catalog {
    item_indexes: "SELECT indexname::text FROM pg_indexes WHERE tablename = 'items' \
                   AND indexname <> 'items_pkey'",
    category_indexes: "SELECT indexname::text FROM pg_indexes WHERE tablename = 'categories' \
                       AND indexname <> 'categories_pkey'",
    item_columns: "SELECT column_name::text FROM information_schema.columns \
                   WHERE table_name = 'items'",
    tables: "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public'",
    category_index: "SELECT indexdef::text FROM pg_indexes \
                     WHERE indexname = 'idx_items_with_category'",
};

async fn execute(url: &str, sql: &str) -> Result<u64, DbErr> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(backend, sql))
        .await
        .map(|done| done.rows_affected())
}

/// A refusal of `ON DELETE RESTRICT`. SQLite reports it with its own extended code (1811,
/// `SQLITE_CONSTRAINT_TRIGGER`), which SeaORM does not classify as a foreign key violation.
fn restricted(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    ) || error.to_string().contains("FOREIGN KEY constraint failed")
}

/// Each step down and back up: the indexes of `items` (one per ordering field, and
/// `(category_id, id)` over the rows with a category; stepping down brings back the category
/// index over every row, then removes them, then brings back the two the first migration
/// made; `up` restores the latest), its columns, the `categories` table, and an item that
/// refers to a category, which every step keeps (its category goes with the table).
async fn check_steps(url: &str, catalog: &Catalog) {
    let listed = [
        "idx_items_name_id",
        "idx_items_price_id",
        "idx_items_created_at_id",
        "idx_items_updated_at_id",
    ];
    let with_category: Vec<&str> = listed
        .iter()
        .copied()
        .chain(["idx_items_category_id_id"])
        .collect();
    let lean: Vec<&str> = listed
        .iter()
        .copied()
        .chain(["idx_items_with_category"])
        .collect();
    let partial = async || {
        let definition = columns(url, catalog.category_index).await.concat();
        definition
            .to_lowercase()
            .contains("where (category_id is not null)")
            || definition.contains("WHERE category_id IS NOT NULL")
    };
    let step = |args: &[&str]| {
        let output = cli(args, &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let has_categories = async || {
        let tables = columns(url, catalog.tables).await;
        tables.iter().any(|table| table == "categories")
    };

    // Every migration applied: the tables, their indexes and their rules.
    assert_eq!(columns(url, catalog.item_indexes).await, sorted(&lean));
    assert!(
        partial().await,
        "the category index holds rows with a category"
    );
    assert_eq!(
        columns(url, catalog.category_indexes).await,
        sorted(&["idx_categories_name_lower", "idx_categories_name_id"])
    );
    let now = "'2026-12-06T00:00:00Z'";
    execute(
        url,
        &format!(
            "INSERT INTO categories (name, created_at, updated_at) VALUES ('Tools', {now}, {now})"
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        columns(
            url,
            "SELECT description || '|' || CAST(version AS TEXT) FROM categories"
        )
        .await,
        ["|1"],
        "description defaults to empty, version to 1"
    );
    for duplicate in ["Tools", "TOOLS", "tools"] {
        let insert = format!(
            "INSERT INTO categories (name, created_at, updated_at) VALUES ('{duplicate}', {now}, {now})"
        );
        let refused = execute(url, &insert).await.unwrap_err();
        assert!(
            matches!(
                refused.sql_err(),
                Some(SqlErr::UniqueConstraintViolation(_))
            ),
            "{duplicate}: {refused}"
        );
    }
    let item = |category: &str| {
        format!(
            "INSERT INTO items (name, description, price, in_stock, created_at, updated_at, version, category_id) \
             VALUES ('Kept', 'd', 1.5, true, {now}, {now}, 1, {category})"
        )
    };
    let dangling = execute(url, &item("999999")).await.unwrap_err();
    assert!(
        matches!(
            dangling.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ),
        "{dangling}"
    );
    execute(url, &item("(SELECT id FROM categories)"))
        .await
        .unwrap();
    // An item deleted before the steps: its id must not come back.
    execute(url, &item("NULL").replace("'Kept'", "'Gone'"))
        .await
        .unwrap();
    let gone_id = "SELECT CAST(id AS TEXT) FROM items WHERE name = 'Gone'";
    let gone: i64 = columns(url, gone_id).await[0].parse().unwrap();
    execute(url, "DELETE FROM items WHERE name = 'Gone'")
        .await
        .unwrap();
    let protected = execute(url, "DELETE FROM categories").await.unwrap_err();
    assert!(restricted(&protected), "{protected}");
    let kept = "SELECT name || ':' || COALESCE(CAST(category_id AS TEXT), 'none') FROM items";
    let referring = columns(url, kept).await;
    assert!(
        referring[0].starts_with("Kept:") && referring[0] != "Kept:none",
        "{referring:?}"
    );

    // Down `partial_category_index`: the category index over every row.
    step(&["-u", url, "down", "-n", "1"]);
    assert_eq!(
        columns(url, catalog.item_indexes).await,
        sorted(&with_category)
    );
    assert!(!partial().await);

    // Down `create_categories`: the item stays, without its category column.
    step(&["-u", url, "down", "-n", "1"]);
    assert_eq!(columns(url, catalog.item_indexes).await, sorted(&listed));
    assert_eq!(columns(url, catalog.item_columns).await, sorted(&COLUMNS));
    assert!(!has_categories().await);
    let kept_rows = "SELECT name || ':' || description || ':' || CAST(version AS TEXT) FROM items";
    assert_eq!(columns(url, kept_rows).await, ["Kept:d:1"]);

    // Down `item_list_indexes`, then `drop_item_ordering_indexes`.
    step(&["-u", url, "down", "-n", "1"]);
    assert_eq!(
        columns(url, catalog.item_indexes).await,
        Vec::<String>::new()
    );
    step(&["-u", url, "down", "-n", "1"]);
    assert_eq!(
        columns(url, catalog.item_indexes).await,
        sorted(&["idx_items_name_id", "idx_items_price_id"])
    );
    assert_eq!(columns(url, kept_rows).await, ["Kept:d:1"]);

    // Up again: everything back, the item kept, with no category.
    step(&["-u", url, "up"]);
    assert_eq!(columns(url, catalog.item_indexes).await, sorted(&lean));
    assert!(partial().await);
    assert!(has_categories().await);
    assert_eq!(columns(url, kept).await, ["Kept:none"]);
    // A new item gets a fresh id: SQLite's rebuild kept the AUTOINCREMENT counter.
    execute(url, &item("NULL").replace("'Kept'", "'New'"))
        .await
        .unwrap();
    let new_id = "SELECT CAST(id AS TEXT) FROM items WHERE name = 'New'";
    let new: i64 = columns(url, new_id).await[0].parse().unwrap();
    assert!(new > gone, "the id {gone} of a deleted item came back");
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
    let names = columns(&url, SQLITE.item_columns).await;
    assert_eq!(names, sorted(&[&COLUMNS[..], &[CATEGORY_ID]].concat()));
    check_steps(&url, &SQLITE).await;
}

/// A fresh PostgreSQL database (`test_migration_<pid>_<suffix>`): the admin connection, its
/// URL and its name; `None` when PostgreSQL is unreachable outside CI.
async fn fresh_postgres(suffix: &str) -> Option<(DatabaseConnection, String, String)> {
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
            return None;
        }
    };
    let name = format!("test_migration_{}_{suffix}", std::process::id());
    let create = format!("CREATE DATABASE \"{name}\"");
    admin
        .execute_raw(Statement::from_string(DbBackend::Postgres, create))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    Some((admin, url, name))
}

async fn drop_postgres(admin: &DatabaseConnection, name: &str) {
    let drop = format!("DROP DATABASE \"{name}\" WITH (FORCE)");
    admin
        .execute_raw(Statement::from_string(DbBackend::Postgres, drop))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_command_works_on_postgres() {
    let Some((admin, url, name)) = fresh_postgres("commands").await else {
        return;
    };
    run_every_command(&url);
    let names = columns(&url, POSTGRES.item_columns).await;
    check_steps(&url, &POSTGRES).await;
    drop_postgres(&admin, &name).await;
    assert_eq!(names, sorted(&[&COLUMNS[..], &[CATEGORY_ID]].concat()));
}

/// `-s`/`--database-schema` (and `DATABASE_SCHEMA`) migrates that PostgreSQL schema, not
/// `public`.
#[tokio::test]
async fn the_schema_option_migrates_that_schema() {
    let Some((admin, url, name)) = fresh_postgres("schema").await else {
        return;
    };
    execute(&url, "CREATE SCHEMA other").await.unwrap();
    let output = cli(&["-u", &url, "-s", "other", "up"], &[]);
    let status = cli(&["-u", &url, "status"], &[("DATABASE_SCHEMA", "other")]);
    let tables = |schema: &str| {
        format!(
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = '{schema}'"
        )
    };
    let other = columns(&url, &tables("other")).await;
    let in_public = columns(&url, &tables("public")).await;
    // (`status` installs its bookkeeping table where it looks: after the listing above.)
    let public = cli(&["-u", &url, "status"], &[]);
    let missing = cli(&["-u", &url, "-s", "nosuch", "status"], &[]);
    drop_postgres(&admin, &name).await;
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "error: schema \"nosuch\" does not exist in this database: create it first (CREATE SCHEMA ...)"
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(other.contains(&"items".to_string()), "{other:?}");
    assert!(in_public.is_empty(), "{in_public:?}");
    assert!(!String::from_utf8_lossy(&status.stdout).contains("Pending"));
    assert!(String::from_utf8_lossy(&public.stdout).contains("Pending"));
}

/// Replicas that migrate as they start, or a migrate job beside them, run `up` at the same
/// time on a fresh database: every run exits 0 (the later ones wait for the first, then find
/// nothing pending) and each migration is recorded once.
#[tokio::test]
async fn concurrent_runs_on_postgres_all_succeed() {
    let Some((admin, url, name)) = fresh_postgres("concurrent").await else {
        return;
    };
    let outputs = concurrent_ups(&url);
    let recorded = recorded_migrations(&url).await;
    drop_postgres(&admin, &name).await;
    assert_all_succeeded(outputs);
    assert_eq!(recorded, (7, 7));
}

/// The same on SQLite, where a lock file beside the database serialises the runs.
#[tokio::test]
async fn concurrent_runs_on_sqlite_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/concurrent.db?mode=rwc", dir.path().display());
    assert_all_succeeded(concurrent_ups(&url));
    assert_eq!(recorded_migrations(&url).await, (7, 7));
}

/// Four `up` runs on `url` at once, each to its end.
fn concurrent_ups(url: &str) -> Vec<Output> {
    let runs: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_migration"))
                .args(["-u", url, "up"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    runs.into_iter()
        .map(|run| run.wait_with_output().unwrap())
        .collect()
}

fn assert_all_succeeded(outputs: Vec<Output>) {
    for output in outputs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Migrations recorded, and distinct versions among them.
async fn recorded_migrations(url: &str) -> (i64, i64) {
    let db = Database::connect(url).await.unwrap();
    let recorded = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n, count(DISTINCT version) AS d FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap();
    let counts = (
        recorded.try_get("", "n").unwrap(),
        recorded.try_get("", "d").unwrap(),
    );
    db.close().await.unwrap();
    counts
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

/// A URL the driver cannot parse, or of another database, is one line that says so (without
/// the password), before any connection is tried.
#[test]
fn a_url_it_cannot_use_is_one_line_without_the_password() {
    for (url, said) in [
        (
            "postgres://u:s3cret@127.0.0.1:notaport/x",
            "error: database URL: postgres://u:[redacted]@127.0.0.1:notaport/x cannot be parsed: \
             invalid port number",
        ),
        (
            "mysql://u:s3cret@127.0.0.1/x",
            "error: database URL: unsupported scheme \"mysql\" (expected sqlite: or postgres://)",
        ),
    ] {
        let output = cli(&["-u", url, "status"], &[]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim(), said);
    }
}

#[test]
fn production_without_a_url_refuses_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config");
    for environment in ["production", "prod"] {
        let output = Command::new(env!("CARGO_BIN_EXE_migration"))
            .arg("up")
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("APP__DATABASE__URL")
            .env("APP_CONFIG_DIR", config)
            .env("APP_ENV", environment)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("APP__DATABASE__URL") && stderr.contains("DATABASE_URL"),
            "{stderr}"
        );
    }
    assert!(!dir.path().join("data").exists(), "no SQLite file");
}

#[test]
fn a_database_it_cannot_reach_is_one_line_without_the_password() {
    for url in [
        "postgres://app:s3cret@127.0.0.1:1/app",
        "postgres://app:s3cret@[bad/app",
        "postgres://[bad/app?user=app&password=s3cret",
    ] {
        let output = cli(&["-u", url, "status"], &[("RUST_BACKTRACE", "1")]);
        assert_eq!(output.status.code(), Some(1), "{url}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
        assert!(stderr.contains("[redacted]"), "{stderr}");
    }
}
