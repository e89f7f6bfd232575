//! `spawn_app`: the real server on port 0 against a database of its own, PostgreSQL (a
//! database created for the test, dropped after it) or SQLite (a file in a temporary
//! folder), and typed helpers to talk to it over HTTP.

pub mod binary;
pub mod proxy;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use api::settings::{Environment, Settings};
use api::startup::Application;
use api::viewset::Router;
use infrastructure::Secret;
use reqwest::{Method, RequestBuilder, Response};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// The URL the app's pool uses.
    pub database_url: String,
    _database: TestDatabase,
}

/// PostgreSQL admin URL: `TEST_DATABASE_URL`, else the local server as `postgres`.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Settings as `config/test.toml` gives them, independent of this process's environment.
pub fn test_settings() -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    Settings::load_from(&dir, Environment::Test, HashMap::new()).expect("config/test.toml loads")
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}, api::resources::register).await
}

/// Starts the app after `customize` adjusts its settings, with the resources `register`
/// adds. `None` when PostgreSQL is wanted but unreachable outside CI (the test is skipped).
pub async fn spawn_app_with(
    backend: Backend,
    customize: impl FnOnce(&mut Settings),
    register: impl FnOnce(Router) -> Router,
) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    let mut settings = test_settings();
    settings.database.url = Secret::new(database.url.clone());
    customize(&mut settings);
    let application = Application::build_with(settings, register)
        .await
        .expect("the app starts");
    let port = application.port();
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Some(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client,
        database_url: database.url.clone(),
        _database: database,
    })
}

/// The status and JSON body of a response (`null` when the body is not JSON).
pub async fn answer(response: Response) -> (reqwest::StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl TestApp {
    /// The ids of the rows of a list page; the request must succeed.
    pub async fn ids(&self, path: &str) -> Vec<i64> {
        let (status, page) = answer(self.get(path).await).await;
        assert_eq!(status, 200, "GET {path}: {page}");
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_i64().unwrap())
            .collect()
    }

    /// The value of one `/metrics` series, named in full (`name{label="x"}`); it must exist.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        let prefix = format!("{series} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{series} in /metrics"))
            .trim()
            .parse()
            .unwrap()
    }

    /// The one integer a query of the app's database returns (`SELECT COUNT(*) ...`).
    pub async fn scalar(&self, sql: &str) -> i64 {
        let db = self.db().await;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql.to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    /// The body of a GET that must answer 200.
    pub async fn json(&self, path: &str) -> Value {
        let (status, body) = answer(self.get(path).await).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_item(&self, body: &Value) -> Response {
        self.send_json(Method::POST, "/items/", body).await
    }

    /// Creates an item and returns its representation.
    pub async fn create_item(&self, name: &str, price: f64) -> Value {
        let response = self
            .post_item(
                &json!({"name": name, "description": format!("about {name}"), "price": price}),
            )
            .await;
        assert_eq!(response.status(), 201, "creating {name}");
        response.json().await.unwrap()
    }

    /// A handle like the app's own, for the infrastructure functions tests call directly.
    pub async fn handle(&self) -> infrastructure::database::Db {
        infrastructure::database::Db::new(
            self.db().await,
            1,
            Default::default(),
            infrastructure::database::Wire::Prepared {
                statement_timeout_ms: 0,
            },
        )
    }

    /// A connection of the test's own to the app's database.
    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(&self.database_url)
            .await
            .expect("test connects to its database")
    }
}

/// A database that lives as long as its test.
pub struct TestDatabase {
    pub url: String,
    drop_postgres: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh database; `None` when PostgreSQL is unreachable outside CI.
    pub async fn create(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/app.db?mode=rwc", dir.path().display());
                Some(TestDatabase {
                    url,
                    drop_postgres: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin().await?;
                let name = unique_name();
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                let url = with_database(&admin_url(), &name);
                Some(TestDatabase {
                    url,
                    drop_postgres: Some(name),
                    _dir: None,
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.drop_postgres.take() else {
            return;
        };
        // Drop runs outside async: a short-lived runtime of its own on another thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The admin connection, or `None` (skip) when PostgreSQL does not answer; under `CI`
/// that is a failure.
pub async fn postgres_admin() -> Option<DatabaseConnection> {
    match Database::connect(admin_url()).await {
        Ok(db) => Some(db),
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL unreachable at TEST_DATABASE_URL ({error}) and CI is set")
        }
        Err(error) => {
            // Straight to stderr, past the test harness's capture: this must be seen.
            use std::io::Write;
            let line = format!(
                "!!! SKIPPED: PostgreSQL unreachable at TEST_DATABASE_URL ({error}); PostgreSQL tests did not run\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// The Redis tests use: `TEST_REDIS_URL`, else the local server, once it answers PING.
/// `None` (skip) when it does not, a failure under `CI`.
pub async fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let ping = async {
        let client = redis::Client::open(url.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), ping).await {
        Ok(Ok(_)) => Some(url),
        outcome if std::env::var_os("CI").is_some() => {
            panic!("Redis unreachable at TEST_REDIS_URL ({outcome:?}) and CI is set")
        }
        outcome => {
            use std::io::Write;
            let line = format!(
                "!!! SKIPPED: Redis unreachable at TEST_REDIS_URL ({outcome:?}); Redis tests did not run\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// `host:port` of the PostgreSQL server in `url`.
pub fn host_port(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}

/// `url` with its `host:port` replaced.
pub fn via(url: &str, host_port_now: &str) -> String {
    url.replacen(&host_port(url), host_port_now, 1)
}

/// A name no other test of this run uses (databases, Redis key prefixes).
pub fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `postgres://u:p@h:5432/admin` -> `postgres://u:p@h:5432/{name}`, keeping any query.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

/// The app on PostgreSQL without prepared statements (values inlined, as behind PgBouncer in
/// transaction mode).
pub async fn spawn_app_inline(backend: Backend) -> Option<TestApp> {
    spawn_app_with(
        backend,
        |s| s.database.prepared_statements = false,
        api::resources::register,
    )
    .await
}

/// Runs an `async fn(TestApp)` as three tests: `postgres`, `postgres_inline` (no prepared
/// statements) and `sqlite`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Backend, spawn_app, spawn_app_inline};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = spawn_app(Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_inline() {
                    if let Some(app) = spawn_app_inline(Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(spawn_app(Backend::Sqlite).await.unwrap()).await;
                }
            }
        )*
    };
}

/// Runs an `async fn(TestApp)` as `postgres` and `sqlite` tests, with the apps `$spawn`
/// (an `async fn(Backend) -> Option<TestApp>`) starts.
#[macro_export]
macro_rules! on_databases_with {
    ($spawn:path; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $spawn(Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($spawn(Backend::Sqlite).await.unwrap()).await;
                }
            }
        )*
    };
}

/// Runs an `async fn(Backend)` (which starts its own app) as `postgres` and `sqlite` tests.
#[macro_export]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Backend::Postgres).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }
            }
        )*
    };
}
