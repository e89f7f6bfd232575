//! Connecting to SQLite or PostgreSQL by URL, with the pool and timeouts from configuration,
//! and the per-worker handle requests use ([`Db`]).

mod deadline;
mod handle;
mod lease;

pub use deadline::{Within, within};
pub(crate) use handle::EXPLAIN;
pub use handle::{Db, Wire};
pub use lease::{CHECK_AFTER, PoolStats};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::Connection;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgSslMode};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection};
use serde::Deserialize;

use crate::{PersistenceError, Secret};

/// The `[database]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://user:password@host/db`.
    pub url: Secret<String>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_ms: u64,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout`: every statement the service sends runs under it;
    /// 0 leaves the server's (or the role's) default. See [`Wire`] for how it travels.
    pub statement_timeout_ms: u64,
    pub idle_timeout_secs: u64,
    /// Prepared statements cached per connection (at least 1).
    pub statement_cache_capacity: usize,
    /// `false`: send statements with their values inlined over the simple query protocol,
    /// which leaves no prepared statement on the server: PgBouncer in transaction mode
    /// before 1.21 needs it.
    pub prepared_statements: bool,
    /// How long SQLite waits on a locked database before giving up.
    pub sqlite_busy_timeout_ms: u64,
    /// Apply pending migrations at start-up.
    pub auto_migrate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl DatabaseSettings {
    /// Which database the URL names; an unsupported scheme or a URL the driver cannot parse
    /// is a configuration error.
    pub fn backend(&self) -> Result<Backend, String> {
        url_backend(self.url.expose()).map_err(|problem| format!("database.url: {problem}"))
    }

    /// Settings that cannot work, as one line naming the key.
    pub fn check(&self) -> Result<(), String> {
        self.backend()?;
        if self.statement_cache_capacity == 0 {
            return Err("database.statement_cache_capacity: must be at least 1 (sqlx would otherwise prepare a new \
                        named statement for every query and never close it; for PgBouncer set \
                        database.prepared_statements = false)"
                .into());
        }
        if self.max_connections == 0 {
            return Err("database.max_connections: must be at least 1".into());
        }
        if self.min_connections > self.max_connections {
            return Err(format!(
                "database.min_connections: {} is more than database.max_connections ({})",
                self.min_connections, self.max_connections
            ));
        }
        for (key, value) in [
            ("database.connect_timeout_ms", self.connect_timeout_ms),
            ("database.acquire_timeout_ms", self.acquire_timeout_ms),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        if self.sqlite_busy_timeout_ms > i32::MAX as u64 {
            return Err(format!(
                "database.sqlite_busy_timeout_ms: at most {} (SQLite's limit)",
                i32::MAX
            ));
        }
        if self.statement_timeout_ms > i32::MAX as u64 {
            return Err(format!(
                "database.statement_timeout_ms: at most {} (PostgreSQL's limit), or 0 for none",
                i32::MAX
            ));
        }
        Ok(())
    }

    /// How statements go out on PostgreSQL, and with them the statement timeout.
    pub fn wire(&self) -> Wire {
        if self.prepared_statements {
            Wire::Prepared {
                statement_timeout_ms: self.statement_timeout_ms,
            }
        } else {
            Wire::Inline {
                statement_timeout_ms: self.statement_timeout_ms,
            }
        }
    }

    /// The URL with any password replaced, fit for logs.
    pub fn redacted_url(&self) -> String {
        redact(self.url.expose())
    }

    fn is_sqlite_memory(&self) -> bool {
        let url = self.url.expose();
        url.contains(":memory:") || url.contains("mode=memory")
    }
}

/// Which database `url` names, or why it names none: an unsupported scheme, or a URL the
/// driver cannot parse (said without the password). Not an outage: waiting would not help.
pub fn url_backend(url: &str) -> Result<Backend, String> {
    let (backend, parsed) = if url.starts_with("sqlite:") {
        (Backend::Sqlite, SqliteConnectOptions::from_str(url).err())
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (Backend::Postgres, PgConnectOptions::from_str(url).err())
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        return Err(format!(
            "unsupported scheme \"{scheme}\" (expected sqlite: or postgres://)"
        ));
    };
    match parsed {
        None => Ok(backend),
        Some(error) => Err(format!(
            "{} cannot be parsed: {}",
            redact(url),
            error
                .to_string()
                .replace("error with configuration: ", "")
                .replace(url, &redact(url))
        )),
    }
}

/// The URL fit for logs: the password of its userinfo (everything up to the last `@`, so a
/// password holding an unescaped `@` is covered) and any `password` query parameter
/// (`?password=`, `sslpassword=`) replaced by `[redacted]`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (userinfo, host) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let userinfo = match userinfo {
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:[redacted]@"),
            None => format!("{userinfo}@"),
        },
        None => String::new(),
    };
    let host = match host.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}=[redacted]")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => host.to_string(),
    };
    format!("{scheme}://{userinfo}{host}")
}

/// Opens the pool. SQLite gets its folder created, WAL journaling and a busy timeout;
/// PostgreSQL with prepared statements gets the statement timeout as a connection parameter
/// (without them, each statement carries it: see [`Wire`]). Fails if the database cannot be
/// reached.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, PersistenceError> {
    open(settings, false).await
}

/// The pool of [`connect`], opening its connections when they are first needed: for a
/// service that starts while its database is down, and answers 503 until it is up. Fails only
/// on a URL or setting the driver refuses.
pub async fn connect_lazily(
    settings: &DatabaseSettings,
) -> Result<DatabaseConnection, PersistenceError> {
    open(settings, true).await
}

async fn open(
    settings: &DatabaseSettings,
    lazily: bool,
) -> Result<DatabaseConnection, PersistenceError> {
    let backend = settings.backend().map_err(PersistenceError::Unexpected)?;
    let mut options = ConnectOptions::new(settings.url.expose().clone());
    options
        .max_connections(settings.max_connections.max(1))
        .min_connections(settings.min_connections.min(settings.max_connections))
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_secs))
        // Ping connections idle long enough to have been dropped by a restart, a server or
        // a proxy (the same threshold as for the connections workers keep).
        .test_before_acquire_if_idle_for(CHECK_AFTER)
        .connect_lazy(lazily)
        .sqlx_logging(false);
    let cache = settings.statement_cache_capacity;
    match backend {
        Backend::Sqlite => {
            create_sqlite_folder(settings.url.expose())?;
            if settings.is_sqlite_memory() {
                // Every connection to `:memory:` is a database of its own: keep exactly one.
                options.max_connections(1).min_connections(1);
            }
            let busy = Duration::from_millis(settings.sqlite_busy_timeout_ms);
            options.map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(busy)
                    .foreign_keys(true)
                    .statement_cache_capacity(cache)
            });
        }
        Backend::Postgres => {
            // The pool opens no connection of its own accord: it would do so from whichever
            // runtime last gave one back. The HTTP workers open `min_connections` between
            // them instead, each from its own runtime (see `close_idle`).
            options.min_connections(0);
            // The startup parameter `options=-c statement_timeout=...`: no round trip, and a
            // pooler that cannot pass it on refuses the connection rather than dropping the
            // timeout. Without prepared statements each statement carries it instead, which
            // works through PgBouncer in transaction mode too (see `Wire::Inline`).
            if matches!(settings.wire(), Wire::Prepared { .. }) && settings.statement_timeout_ms > 0
            {
                options.statement_timeout(Duration::from_millis(settings.statement_timeout_ms));
            }
            // TLS to this very machine buys nothing and costs on every message; elsewhere the
            // URL's `sslmode` (default `prefer`) decides.
            let loopback_default = !settings.url.expose().contains("sslmode=");
            options.map_sqlx_postgres_opts(move |o: PgConnectOptions| {
                let local = matches!(o.get_host(), "localhost" | "127.0.0.1" | "::1")
                    || o.get_host().starts_with('/');
                let o = o.statement_cache_capacity(cache).application_name("api");
                if loopback_default && local {
                    o.ssl_mode(PgSslMode::Disable)
                } else {
                    o
                }
            });
        }
    }
    let url = settings.url.expose();
    Database::connect(options).await.map_err(|error| {
        // The driver quotes a URL it cannot parse: the password must not reach the log.
        let redacted = |message: String| message.replace(url.as_str(), &redact(url));
        match PersistenceError::from(error) {
            PersistenceError::Unavailable(message) => {
                PersistenceError::Unavailable(redacted(message))
            }
            // Not an outage: the database answered, or the URL is wrong.
            PersistenceError::Unexpected(message) | PersistenceError::SchemaBehind(message) => {
                PersistenceError::Connect(redacted(message))
            }
            other => other,
        }
    })
}

/// SQLite creates the file (`mode=rwc`) but not its folder. Other URLs: nothing to do.
pub fn create_sqlite_folder(url: &str) -> Result<(), PersistenceError> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let rest = rest.trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    match Path::new(path).parent() {
        Some(parent) if !path.starts_with(':') && !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|e| {
                PersistenceError::Unexpected(format!("cannot create {}: {e}", parent.display()))
            })
        }
        _ => Ok(()),
    }
}

/// Closes the connections the start-up opened (PostgreSQL; elsewhere nothing to do), once
/// they are back in the pool: call it before the HTTP workers start. A connection's socket
/// answers to the runtime whose task opened it, and one opened on the main runtime, then
/// kept by a worker, would route every answer through a thread of the main runtime, which
/// then wakes the worker: two more thread switches per statement (GET by id gained 4% to
/// 12% without them: bench/README.md). Closed, they leave the workers to open the
/// connections they keep. Housekeeping and the CLI close theirs after each statement (see
/// `Db::transient`), and the pool opens none of its own (`min_connections` is the workers').
pub async fn close_idle(db: &DatabaseConnection) {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool();
    // A connection given back goes back to the pool in a task of its own: let it land.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while pool.num_idle() < pool.size() as usize && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    while let Some(connection) = pool.try_acquire() {
        let _ = connection.close().await;
    }
}

/// Answers whether the database responds within `timeout` (readiness).
pub async fn ping(db: &DatabaseConnection, timeout: Duration) -> Result<(), PersistenceError> {
    let late = || PersistenceError::Unavailable("no answer within the readiness timeout".into());
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return match tokio::time::timeout(timeout, db.execute_unprepared("SELECT 1")).await {
            Ok(result) => result.map(|_| ()).map_err(PersistenceError::from),
            Err(_) => Err(late()),
        };
    }
    // A connection of its own, closed if it does not answer in time: given back to the pool,
    // it would wait for that answer with no deadline (a stalled network path), holding its
    // slot, and every later probe would find the pool one connection short.
    let deadline = tokio::time::Instant::now() + timeout;
    let pool = db.get_postgres_connection_pool();
    let mut connection = match tokio::time::timeout_at(deadline, pool.acquire()).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => return Err(sqlx_error(error)),
        Err(_) => return Err(late()),
    };
    match tokio::time::timeout_at(deadline, connection.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            connection.close_on_drop();
            Err(sqlx_error(error))
        }
        Err(_) => {
            connection.close_on_drop();
            Err(late())
        }
    }
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> PersistenceError {
    PersistenceError::from(lease::acquire_error(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> DatabaseSettings {
        DatabaseSettings {
            url: Secret::new(url.into()),
            max_connections: 2,
            min_connections: 0,
            connect_timeout_ms: 1000,
            acquire_timeout_ms: 1000,
            statement_timeout_ms: 0,
            idle_timeout_secs: 60,
            statement_cache_capacity: 100,
            prepared_statements: true,
            sqlite_busy_timeout_ms: 1000,
            auto_migrate: true,
        }
    }

    #[test]
    fn recognises_backends_and_names_the_key_for_others() {
        assert_eq!(
            settings("sqlite://data/app.db?mode=rwc").backend(),
            Ok(Backend::Sqlite)
        );
        assert_eq!(
            settings("postgresql://u@h/db").backend(),
            Ok(Backend::Postgres)
        );
        let error = settings("mysql://u@h/db").backend().unwrap_err();
        assert!(
            error.starts_with("database.url:") && error.contains("mysql"),
            "{error}"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:[redacted]@db:5432/app"
        );
        assert_eq!(
            redact("sqlite://data/app.db?mode=rwc"),
            "sqlite://data/app.db?mode=rwc"
        );
        assert_eq!(
            redact("postgres://app:p@ss@db/app"),
            "postgres://app:[redacted]@db/app"
        );
        assert_eq!(
            redact(
                "postgres://db/app?user=app&password=s3cret&sslpassword=s3cret2&sslmode=require"
            ),
            "postgres://db/app?user=app&password=[redacted]&sslpassword=[redacted]&sslmode=require"
        );
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("sqlite://data/a@b.db"), "sqlite://data/a@b.db");
        assert!(!format!("{:?}", settings("postgres://app:s3cret@db/app")).contains("s3cret"));
    }

    #[test]
    fn only_sqlite_urls_get_a_folder() {
        // (read as a path, this URL's folder would be `postgres:/app:s3cret@db`)
        create_sqlite_folder("postgres://app:s3cret@db/app").unwrap();
        assert!(!Path::new("postgres:").exists());
    }

    #[tokio::test]
    async fn a_url_the_driver_cannot_parse_is_not_printed_with_its_password() {
        let error = connect(&settings("postgres://app:s3cret@[bad/app"))
            .await
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
        assert!(
            error.contains("postgres://app:[redacted]@[bad/app"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn creates_the_sqlite_folder_and_answers_pings() {
        let dir = std::env::temp_dir().join(format!("infra-test-{}", std::process::id()));
        let url = format!("sqlite://{}/nested/app.db?mode=rwc", dir.display());
        let db = connect(&settings(&url)).await.unwrap();
        ping(&db, Duration::from_secs(1)).await.unwrap();
        assert!(dir.join("nested/app.db").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
