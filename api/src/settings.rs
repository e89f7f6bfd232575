//! Configuration: `config/default.toml`, then `config/$APP_ENV.toml`, then
//! `APP__SECTION__KEY` environment variables, then `DATABASE_URL`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use domain::auth::{Permission, Rate};
use domain::query::CountMode;

use crate::viewset::pagination::PageDefaults;
use infrastructure::{Backend, DatabaseSettings, Secret};
use serde::Deserialize;

use crate::security::{AllowedHosts, TrustedProxies, check_redis};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub pagination: PaginationSettings,
    pub auth: AuthSettings,
    pub throttle: ThrottleSettings,
    pub idempotency: IdempotencySettings,
    pub cors: CorsSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub permission: Permission,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    pub enabled: bool,
    #[serde(deserialize_with = "rate")]
    pub anon: Rate,
    #[serde(deserialize_with = "rate")]
    pub user: Rate,
    /// Where the counts live: this process's memory, or Redis (shared by every replica).
    pub store: ThrottleStore,
    pub redis_url: Secret<String>,
    /// PEM certificates to check a `rediss://` server's against, instead of the built-in
    /// roots ("": the built-in roots).
    pub redis_ca_file: String,
    /// Prepended to every key the throttle writes in Redis.
    pub redis_key_prefix: String,
    /// A Redis answer later than this counts as a failure.
    pub redis_timeout_ms: u64,
    /// When Redis fails: serve the request (true) or answer 503 (false).
    pub fail_open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleStore {
    Memory,
    Redis,
}

impl ThrottleStore {
    /// The configuration's names of the variants, as serde reads them.
    pub const CHOICES: [&'static str; 2] = ["memory", "redis"];
}

fn rate<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    pub ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    #[serde(deserialize_with = "list")]
    pub allowed_origins: Vec<String>,
    pub max_age_secs: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    /// After SIGTERM or SIGINT, how long to keep serving (readiness failing, every response
    /// closing its connection) before the listener closes.
    pub shutdown_delay_ms: u64,
    pub body_limit_bytes: usize,
    pub readiness_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// CIDRs of the proxies whose `X-Forwarded-*` headers count.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
    /// Host names the service answers to (Django's `ALLOWED_HOSTS`).
    #[serde(deserialize_with = "list")]
    pub allowed_hosts: Vec<String>,
    /// A port of its own for `/metrics` (then not served on `port`); 0: on `port`.
    pub metrics_port: u16,
}

/// The largest `pagination.max_page_size` and `pagination.max_offset` taken.
const MAX_PAGE_SIZE: u64 = 100_000;
const MAX_OFFSET: u64 = i32::MAX as u64;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaginationSettings {
    pub default_page_size: u64,
    pub max_page_size: u64,
    pub count: CountMode,
    pub exact_count_threshold: u64,
    pub max_offset: u64,
}

impl PaginationSettings {
    pub fn defaults(&self) -> PageDefaults {
        PageDefaults {
            page_size: self.default_page_size,
            max_page_size: self.max_page_size,
            count: self.count,
            exact_count_threshold: self.exact_count_threshold,
            max_offset: self.max_offset,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    /// The configuration's names of the variants, as serde reads them.
    pub const CHOICES: [&'static str; 2] = ["pretty", "json"];
}

/// Which overlay file applies: `APP_ENV` (shared with the migration CLI).
pub use infrastructure::Environment;

/// A configuration problem, as one line naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct SettingsError(pub String);

impl Settings {
    /// Loads from the process environment: `APP_ENV`, `APP_CONFIG_DIR` (default `config`),
    /// `APP__*` and `DATABASE_URL`.
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::load_env(true)
    }

    /// As [`Settings::load`], for commands that open no database (`api openapi`): production's
    /// need of an explicit database URL does not apply to them.
    pub fn load_without_database() -> Result<Settings, SettingsError> {
        Settings::load_env(false)
    }

    fn load_env(database: bool) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let dir = vars
            .get("APP_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        let environment = match vars.get("APP_ENV") {
            Some(name) => name.parse().map_err(SettingsError)?,
            None => Environment::Development,
        };
        Settings::load_checked(&dir, environment, vars, database)
    }

    /// Loads from `dir` for `environment`, with `vars` standing for the environment variables.
    pub fn load_from(
        dir: &Path,
        environment: Environment,
        vars: HashMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        Settings::load_checked(dir, environment, vars, true)
    }

    fn load_checked(
        dir: &Path,
        environment: Environment,
        vars: HashMap<String, String>,
        database: bool,
    ) -> Result<Settings, SettingsError> {
        let base = dir.join("default.toml");
        if !base.is_file() {
            return Err(SettingsError(format!(
                "{} not found: run from the folder holding config/, or set APP_CONFIG_DIR",
                base.display()
            )));
        }
        let explicit_url = |name: &str| vars.get(name).is_some_and(|url| !url.trim().is_empty());
        let explicit_database = explicit_url("DATABASE_URL") || explicit_url("APP__DATABASE__URL");
        // An empty DATABASE_URL is unset (as for the production check), not a URL that
        // would override APP__DATABASE__URL.
        let database_url = vars
            .get("DATABASE_URL")
            .filter(|_| explicit_url("DATABASE_URL"))
            .cloned();
        let settings = config::Config::builder()
            .add_source(config::File::from(base.clone()))
            .add_source(
                config::File::from(dir.join(format!("{}.toml", environment.as_str())))
                    .required(false),
            )
            .add_source(
                config::Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("cors.allowed_origins")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("server.allowed_hosts")
                    .source(Some(vars)),
            )
            .set_override_option("database.url", database_url)
            .and_then(|builder| builder.build())
            .map_err(|error| SettingsError(explain(error)))?;
        let defaults = config::Config::builder()
            .add_source(config::File::from(base.clone()))
            .build()
            .map_err(|error| SettingsError(explain(error)))?;
        strict_kinds(&defaults, &settings).map_err(SettingsError)?;
        let mut settings: Settings = settings
            .try_deserialize()
            .map_err(|error| SettingsError(explain(error)))?;
        if database
            && environment == Environment::Production
            && !explicit_database
            && !overlay_sets(dir, environment, "database.url")
        {
            return Err(SettingsError(
                infrastructure::environment::NO_DATABASE_URL.into(),
            ));
        }
        // As for hosts and proxies: spaces around an origin, and empty entries (an empty
        // variable disables CORS), mean nothing.
        let origins = std::mem::take(&mut settings.cors.allowed_origins);
        settings.cors.allowed_origins = origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .map(String::from)
            .collect();
        settings.check()?;
        Ok(settings)
    }

    /// The HTTP worker threads: `server.workers`, or one per CPU; on PostgreSQL at most one
    /// fewer than `database.max_connections`, since each keeps a connection between requests
    /// and one stays shared (explicit values are held to that by [`Settings::check`]).
    pub fn workers(&self) -> usize {
        match self.server.workers {
            0 => {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                cpus.min(self.workers_fed().unwrap_or(cpus)).max(1)
            }
            n => n,
        }
    }

    /// On PostgreSQL, the most workers the pool feeds: each keeps a connection of it between
    /// requests, and one more stays shared for readiness checks and housekeeping (fewer would
    /// leave `/health/ready` waiting for a connection that never comes back). SQLite's
    /// connections are not kept by workers: `None`.
    fn workers_fed(&self) -> Option<usize> {
        (self.database.backend() == Ok(Backend::Postgres))
            .then(|| (self.database.max_connections as usize).saturating_sub(1))
    }

    fn check(&self) -> Result<(), SettingsError> {
        self.database.check().map_err(SettingsError)?;
        // Values the libraries would panic on or that leave nothing working.
        for (key, value) in [
            ("throttle.redis_timeout_ms", self.throttle.redis_timeout_ms),
            (
                "server.body_limit_bytes",
                self.server.body_limit_bytes as u64,
            ),
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            (
                "server.readiness_timeout_ms",
                self.server.readiness_timeout_ms,
            ),
        ] {
            if value == 0 {
                return Err(SettingsError(format!("{key}: must be at least 1")));
            }
        }
        let statement_timeout = self.database.statement_timeout_ms;
        if statement_timeout > 0 && statement_timeout >= self.server.request_timeout_ms {
            return Err(SettingsError(format!(
                "database.statement_timeout_ms: {statement_timeout} must be below server.request_timeout_ms ({}), \
                 or 0 (none): a statement the client no longer waits for would run on",
                self.server.request_timeout_ms
            )));
        }
        TrustedProxies::new(&self.server.trusted_proxies).map_err(SettingsError)?;
        AllowedHosts::new(&self.server.allowed_hosts).map_err(SettingsError)?;
        let throttle = &self.throttle;
        if throttle.store == ThrottleStore::Redis || !throttle.redis_url.expose().is_empty() {
            check_redis(throttle.redis_url.expose(), &throttle.redis_ca_file)
                .map_err(SettingsError)?;
        }
        let server = &self.server;
        if server.metrics_port != 0 && server.metrics_port == server.port {
            return Err(SettingsError(format!(
                "server.metrics_port: {} is server.port; give /metrics another port, or 0 to \
                 serve it on server.port",
                server.metrics_port
            )));
        }
        // Past the first two the time arithmetic of a request (its deadline, an idempotency
        // key's expiry) would overflow; long before, they stop meaning anything.
        for (key, value, max, said) in [
            (
                "server.request_timeout_ms",
                server.request_timeout_ms,
                MAX_REQUEST_TIMEOUT_MS,
                "a day",
            ),
            (
                "idempotency.ttl_secs",
                self.idempotency.ttl_secs,
                MAX_IDEMPOTENCY_TTL_SECS,
                "a year",
            ),
            (
                "server.shutdown_delay_ms",
                server.shutdown_delay_ms,
                MAX_SHUTDOWN_DELAY_MS,
                "10 minutes",
            ),
        ] {
            if value > max {
                return Err(SettingsError(format!("{key}: at most {max} ({said})")));
            }
        }
        if self.server.workers > MAX_WORKERS {
            return Err(SettingsError(format!(
                "server.workers: at most {MAX_WORKERS} (actix-web's limit), or 0 for one per CPU"
            )));
        }
        if let Some(fed) = self.workers_fed() {
            if fed == 0 {
                return Err(SettingsError(
                    "database.max_connections: at least 2 on PostgreSQL (a connection per \
                     worker, and one for readiness checks and housekeeping)"
                        .into(),
                ));
            }
            if self.server.workers > fed {
                return Err(SettingsError(format!(
                    "server.workers: {} workers need database.max_connections of at least {} on \
                     PostgreSQL ({} now): each keeps a connection, and one is left for \
                     readiness checks and housekeeping",
                    self.server.workers,
                    self.server.workers + 1,
                    self.database.max_connections
                )));
            }
        }
        check_log_level("log.level", &self.log.level).map_err(SettingsError)?;
        for origin in &self.cors.allowed_origins {
            let valid = origin == "*"
                || (origin.starts_with("http://") || origin.starts_with("https://"))
                    && origin
                        .parse::<actix_web::http::Uri>()
                        .is_ok_and(|uri| uri.path() == "/" && !origin.ends_with('/'));
            if !valid {
                return Err(SettingsError(format!(
                    "cors.allowed_origins: \"{origin}\" is not an origin (scheme://host[:port], or *)"
                )));
            }
        }
        let pagination = &self.pagination;
        // Past these, LIMIT and OFFSET no longer fit the drivers' integers (a panic per
        // request); long before, a page is no longer something to answer with.
        if pagination.max_page_size > MAX_PAGE_SIZE {
            return Err(SettingsError(format!(
                "pagination.max_page_size: at most {MAX_PAGE_SIZE}"
            )));
        }
        if pagination.max_offset > MAX_OFFSET {
            return Err(SettingsError(format!(
                "pagination.max_offset: at most {MAX_OFFSET}"
            )));
        }
        if pagination.default_page_size == 0
            || pagination.max_page_size < pagination.default_page_size
        {
            return Err(SettingsError(
                "pagination: default_page_size must be at least 1 and at most max_page_size".into(),
            ));
        }
        Ok(())
    }
}

/// The values of each setting that is a choice, by the type the config crate names.
const CHOICES: [(&str, &[&str]); 4] = [
    ("CountMode", &CountMode::CHOICES),
    ("LogFormat", &LogFormat::CHOICES),
    ("Permission", &Permission::CHOICES),
    ("ThrottleStore", &ThrottleStore::CHOICES),
];

/// The config crate's messages put the key last and speak of Rust types (`invalid type: 64-bit
/// unsigned integer `70000`, expected an unsigned 16 bit integer for key `server.port``, `enum
/// CountMode does not have variant constructor x for key ...`, `unknown field `prot`, expected
/// one of ... for key `server``): say instead, as every other check here does, `key: problem`,
/// in the words of the configuration (which values a choice takes, which range a number).
fn explain(error: config::ConfigError) -> String {
    let message = error.to_string();
    // "... for key `server.port`", then " in the environment" or " in <file>".
    let (what, key) = match message.rsplit_once(" for key `") {
        Some((what, rest)) => (what, rest.split_once('`').map(|(key, _)| key)),
        None => (message.as_str(), None),
    };
    let quoted = |text: &str| {
        let (_, rest) = text.split_once('`')?;
        Some(rest.split_once('`')?.0.to_string())
    };
    if let Some(rest) = what.strip_prefix("enum ")
        && let Some((kind, value)) = rest.split_once(" does not have variant constructor ")
        && let Some((_, choices)) = CHOICES.iter().find(|(name, _)| *name == kind)
        && let Some(key) = key
    {
        return format!("{key}: \"{value}\" is not one of {}", choices.join(", "));
    }
    if let Some(rest) = what.strip_prefix("unknown field ")
        && let Some(name) = quoted(rest)
    {
        // serde's list: "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, ...".
        let known = rest
            .split_once(", expected ")
            .map(|(_, known)| {
                let known = known.strip_prefix("one of ").unwrap_or(known);
                known.replace('`', "").replace(" or ", ", ")
            })
            .unwrap_or_default();
        return match key {
            Some(key) => format!("{key}.{name}: no such key ({key} has {known})"),
            None => format!("{name}: no such section (the sections are {known})"),
        };
    }
    if let Some(rest) = what.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
        && let Some(key) = key
    {
        let expected = match expected {
            "an unsigned 16 bit integer" | "u16" => "a whole number from 0 to 65535",
            e if e.starts_with("an unsigned") || e.starts_with('u') => "a whole number, 0 or more",
            e => e,
        };
        let found = quoted(found).unwrap_or_else(|| found.to_string());
        return format!("{key}: expected {expected}, got {found}");
    }
    match key {
        Some(key) => format!("{key}: {what}"),
        None => message,
    }
}

/// A list key (CIDRs, hosts, origins) set to one value, where the environment's comma-separated
/// form gives no list (`APP__SERVER__ALLOWED_HOSTS=example.com`, or `10`, which the config crate
/// reads as a number), is a list of that one value, for the key's own check to judge.
fn list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    use serde_json::Value;
    let text = |value: Value| match value {
        Value::String(text) => Ok(text),
        Value::Number(_) | Value::Bool(_) => Ok(value.to_string()),
        _ => Err(serde::de::Error::custom("expected a comma-separated list")),
    };
    match Value::deserialize(deserializer)? {
        Value::Array(items) => items.into_iter().map(text).collect(),
        Value::Null => Ok(Vec::new()),
        value => text(value).map(|one| vec![one]),
    }
}

/// The config crate turns `8220.7` into the port 8221 and `true` into a timeout of 1 ms.
/// Every key whose default (config/default.toml holds them all) is a whole number takes only a
/// whole number, and every boolean key only a boolean (`true`, `false`, and the config
/// crate's `1`, `0`, `yes`, `no`, `on`, `off`), wherever the value comes from.
fn strict_kinds(defaults: &config::Config, merged: &config::Config) -> Result<(), String> {
    use config::{Source, Value, ValueKind};
    use std::collections::HashMap as Map;

    fn walk(
        path: &str,
        defaults: &Map<String, Value>,
        values: &Map<String, Value>,
    ) -> Result<(), String> {
        for (name, value) in values {
            let Some(default) = defaults.get(name) else {
                continue;
            };
            let key = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let whole = |kind: &ValueKind| {
                matches!(
                    kind,
                    ValueKind::I64(_) | ValueKind::U64(_) | ValueKind::I128(_) | ValueKind::U128(_)
                )
            };
            let refused = match (&default.kind, &value.kind) {
                (ValueKind::Table(defaults), ValueKind::Table(values)) => {
                    walk(&key, defaults, values)?;
                    None
                }
                (expected, found) if whole(expected) && !whole(found) => Some("an integer"),
                (ValueKind::Boolean(_), ValueKind::Boolean(_)) => None,
                (ValueKind::Boolean(_), found) if whole(found) => {
                    (!matches!(value.clone().into_int(), Ok(0 | 1))).then_some("a boolean")
                }
                (ValueKind::Boolean(_), ValueKind::String(text))
                    if matches!(
                        text.to_lowercase().as_str(),
                        "true" | "false" | "yes" | "no" | "on" | "off"
                    ) =>
                {
                    None
                }
                (ValueKind::Boolean(_), _) => Some("a boolean"),
                _ => None,
            };
            if let Some(expected) = refused {
                let got = match &value.kind {
                    ValueKind::String(text) => format!("\"{text}\""),
                    ValueKind::Float(number) => format!("{number:?}"),
                    _ => value.to_string(),
                };
                return Err(format!("{key}: expected {expected}, got {got}"));
            }
        }
        Ok(())
    }

    let defaults = defaults.collect().map_err(explain)?;
    let values = merged.collect().map_err(explain)?;
    walk("", &defaults, &values)
}

/// Longer than any orchestrator's grace period: a typo, not a delay.
const MAX_SHUTDOWN_DELAY_MS: u64 = 600_000;

/// actix-web refuses more (with a panic).
const MAX_WORKERS: usize = 512;
const MAX_REQUEST_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;
const MAX_IDEMPOTENCY_TTL_SECS: u64 = 365 * 24 * 60 * 60;

/// Log directives (`log.level`, or `RUST_LOG`: `source` names which) as EnvFilter reads
/// them, without its traps: an empty value and a bare word that is not a level (`verbose`)
/// are valid filter syntax that silence every log line.
pub fn check_log_level(source: &str, directives: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    if directives.trim().is_empty() {
        return Err(format!(
            "{source}: empty (it would silence every line); use info, or e.g. info,api=debug"
        ));
    }
    for directive in directives.split(',').map(str::trim) {
        let bare = !directive.contains(['=', '[', '{', ':']);
        if bare && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{source}: \"{directive}\" is not a level (off, error, warn, info, debug, trace); \
                 a target takes one as target=level"
            ));
        }
    }
    Ok(())
}

/// Whether `config/{environment}.toml` sets `key`.
fn overlay_sets(dir: &Path, environment: Environment, key: &str) -> bool {
    config::Config::builder()
        .add_source(
            config::File::from(dir.join(format!("{}.toml", environment.as_str()))).required(false),
        )
        .build()
        .is_ok_and(|overlay| overlay.get_string(key).is_ok_and(|v| !v.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
    }

    fn load(environment: Environment, vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(&config_dir(), environment, vars)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = load(Environment::Development, &[]).unwrap();
        assert_eq!(
            (settings.server.host.as_str(), settings.server.port),
            ("127.0.0.1", 8000)
        );
        assert_eq!(
            settings.database.url.expose(),
            "sqlite://data/app.db?mode=rwc"
        );
        assert!(settings.database.auto_migrate);
        assert_eq!(settings.pagination.default_page_size, 50);
        assert_eq!(settings.log.format, LogFormat::Pretty);
    }

    #[test]
    fn overlays_and_environment_variables_override() {
        let production = load(
            Environment::Production,
            &[("DATABASE_URL", "postgres://h/db")],
        )
        .unwrap();
        assert_eq!(production.log.format, LogFormat::Json);
        assert!(!production.database.auto_migrate);
        let settings = load(
            Environment::Development,
            &[
                ("APP__SERVER__PORT", "8123"),
                ("APP__LOG__FORMAT", "json"),
                ("DATABASE_URL", "postgres://u:p@h/db"),
            ],
        )
        .unwrap();
        assert_eq!(settings.server.port, 8123);
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(settings.database.url.expose(), "postgres://u:p@h/db");
    }

    #[test]
    fn bad_values_name_their_key() {
        let error = load(Environment::Development, &[("APP__SERVER__PORT", "eighty")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("server.port"), "{error}");
        let error = load(
            Environment::Development,
            &[("APP__DATABASE__URL", "mysql://x")],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("database.url"), "{error}");
        let error = load(Environment::Development, &[("APP__LOG__FORMAT", "fancy")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("log.format"), "{error}");
        let error = load(Environment::Development, &[("APP__SERVER__PROT", "1")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("prot"), "{error}");
        // Values a library would panic on, or that would leave nothing working.
        for (name, value, key) in [
            ("APP__SERVER__WORKERS", "513", "server.workers"),
            ("APP__SERVER__METRICS_PORT", "8000", "server.metrics_port"),
            (
                "APP__SERVER__REQUEST_TIMEOUT_MS",
                "86400001",
                "server.request_timeout_ms",
            ),
            (
                "APP__IDEMPOTENCY__TTL_SECS",
                "31536001",
                "idempotency.ttl_secs",
            ),
            (
                "APP__SERVER__SHUTDOWN_DELAY_MS",
                "600001",
                "server.shutdown_delay_ms",
            ),
            (
                "APP__SERVER__BODY_LIMIT_BYTES",
                "0",
                "server.body_limit_bytes",
            ),
            (
                "APP__SERVER__REQUEST_TIMEOUT_MS",
                "0",
                "server.request_timeout_ms",
            ),
            (
                "APP__SERVER__READINESS_TIMEOUT_MS",
                "0",
                "server.readiness_timeout_ms",
            ),
            (
                "APP__DATABASE__ACQUIRE_TIMEOUT_MS",
                "0",
                "database.acquire_timeout_ms",
            ),
            (
                "APP__DATABASE__CONNECT_TIMEOUT_MS",
                "0",
                "database.connect_timeout_ms",
            ),
            (
                "APP__DATABASE__SQLITE_BUSY_TIMEOUT_MS",
                "18446744073709551615",
                "database.sqlite_busy_timeout_ms",
            ),
            (
                "APP__PAGINATION__MAX_PAGE_SIZE",
                "18446744073709551615",
                "pagination.max_page_size",
            ),
            (
                "APP__PAGINATION__MAX_OFFSET",
                "9223372036854775808",
                "pagination.max_offset",
            ),
            ("APP__LOG__LEVEL", "", "log.level"),
            ("APP__LOG__LEVEL", "verbose", "log.level"),
            ("APP__LOG__LEVEL", "info,loud", "log.level"),
        ] {
            let error = load(Environment::Development, &[(name, value)])
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(key) && !error.contains('\n'),
                "{name}={value}: {error}"
            );
        }
        for (name, key) in [
            ("APP__PAGINATION__COUNT", "pagination.count"),
            ("APP__LOG__FORMAT", "log.format"),
            ("APP__AUTH__PERMISSION", "auth.permission"),
            ("APP__THROTTLE__STORE", "throttle.store"),
        ] {
            let error = load(Environment::Development, &[(name, "bogus")])
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("{key}: \"bogus\" is not one of ")),
                "{error}"
            );
        }
        // Every choice the messages list is one the settings take.
        for (kind, choices) in CHOICES {
            let name = match kind {
                "CountMode" => "APP__PAGINATION__COUNT",
                "LogFormat" => "APP__LOG__FORMAT",
                "Permission" => "APP__AUTH__PERMISSION",
                _ => "APP__THROTTLE__STORE",
            };
            for choice in choices {
                let redis = ("APP__THROTTLE__REDIS_URL", "redis://127.0.0.1:6379");
                load(Environment::Development, &[(name, choice), redis]).unwrap();
            }
        }
        for level in [
            "warn",
            "INFO",
            "info,api=debug",
            "api::viewset=trace,sqlx=off",
        ] {
            load(Environment::Development, &[("APP__LOG__LEVEL", level)]).unwrap();
        }
        assert!(
            "nonsense"
                .parse::<Environment>()
                .unwrap_err()
                .contains("APP_ENV")
        );
    }

    #[test]
    fn statement_timeout_is_checked_against_postgres_and_the_request_timeout() {
        let defaults = load(Environment::Development, &[]).unwrap();
        assert_eq!(defaults.database.statement_timeout_ms, 5000);
        let settings = load(
            Environment::Development,
            &[("APP__DATABASE__STATEMENT_TIMEOUT_MS", "0")],
        )
        .unwrap();
        assert_eq!(settings.database.statement_timeout_ms, 0);
        for (value, request) in [("30000", "30000"), ("2147483648", "30000"), ("-1", "30000")] {
            let error = load(
                Environment::Development,
                &[
                    ("APP__DATABASE__STATEMENT_TIMEOUT_MS", value),
                    ("APP__SERVER__REQUEST_TIMEOUT_MS", request),
                ],
            )
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("database.statement_timeout_ms"),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn pool_sizes_are_checked() {
        for (vars, key) in [
            (
                &[("APP__DATABASE__MAX_CONNECTIONS", "0")][..],
                "database.max_connections",
            ),
            (
                &[
                    ("APP__DATABASE__MAX_CONNECTIONS", "2"),
                    ("APP__DATABASE__MIN_CONNECTIONS", "20"),
                ][..],
                "database.min_connections",
            ),
        ] {
            let error = load(Environment::Development, vars)
                .unwrap_err()
                .to_string();
            assert!(error.contains(&format!("error: {key}:")), "{error}");
        }
    }

    #[test]
    fn security_settings_parse() {
        let settings = load(
            Environment::Development,
            &[
                ("APP__AUTH__PERMISSION", "read_only_unless_authenticated"),
                ("APP__THROTTLE__ENABLED", "true"),
                ("APP__THROTTLE__ANON", "5/minute"),
                (
                    "APP__CORS__ALLOWED_ORIGINS",
                    "https://a.example,https://b.example",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            settings.auth.permission,
            Permission::ReadOnlyUnlessAuthenticated
        );
        assert!(settings.throttle.enabled);
        assert_eq!(settings.throttle.anon.requests, 5);
        assert_eq!(
            settings.cors.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        for (value, origins) in [
            (
                " https://a.example , https://b.example",
                &["https://a.example", "https://b.example"][..],
            ),
            ("", &[]),
        ] {
            let settings = load(
                Environment::Development,
                &[("APP__CORS__ALLOWED_ORIGINS", value)],
            )
            .unwrap();
            assert_eq!(settings.cors.allowed_origins, origins, "{value:?}");
        }
        let error = load(Environment::Development, &[("APP__THROTTLE__USER", "lots")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("throttle.user") || error.contains("invalid rate"),
            "{error}"
        );
        let error = load(
            Environment::Development,
            &[("APP__AUTH__PERMISSION", "everyone")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("auth.permission") || error.contains("everyone"),
            "{error}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = load(
            Environment::Development,
            &[
                ("DATABASE_URL", "postgres://u:hunter2@h/db"),
                ("APP__THROTTLE__REDIS_URL", "redis://:swordfish@h:6379/0"),
            ],
        )
        .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("swordfish"));
    }

    #[test]
    fn production_needs_an_explicit_database_url() {
        for vars in [
            &[][..],
            &[("DATABASE_URL", "")],
            &[("APP__DATABASE__URL", " ")],
        ] {
            let error = load(Environment::Production, vars).unwrap_err().to_string();
            assert!(
                error.contains("APP__DATABASE__URL") && error.contains("DATABASE_URL"),
                "{error}"
            );
            assert!(!error.contains('\n'), "{error}");
        }
        let settings = load(
            Environment::Production,
            &[
                ("DATABASE_URL", ""),
                ("APP__DATABASE__URL", "postgres://u@h/db"),
            ],
        )
        .unwrap();
        assert_eq!(
            settings.database.url.expose(),
            "postgres://u@h/db",
            "an empty DATABASE_URL is unset"
        );
        for name in ["DATABASE_URL", "APP__DATABASE__URL"] {
            let settings = load(Environment::Production, &[(name, "postgres://u@h/db")]).unwrap();
            assert_eq!(settings.database.url.expose(), "postgres://u@h/db");
        }
        let dir = tempfile_dir();
        std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
        std::fs::write(
            dir.join("production.toml"),
            "[database]\nurl = \"postgres://u@h/db\"\n",
        )
        .unwrap();
        let settings = Settings::load_from(&dir, Environment::Production, HashMap::new()).unwrap();
        assert_eq!(settings.database.url.expose(), "postgres://u@h/db");
        std::fs::remove_dir_all(dir).unwrap();
        assert!(
            load(Environment::Development, &[]).is_ok(),
            "development keeps SQLite"
        );
    }

    /// A number where a whole number or a boolean belongs stops start-up, rather than being
    /// rounded (a port of 8220.7 listening on 8221) or read as 1 (`true` as a timeout).
    /// On PostgreSQL every worker keeps a connection and one stays shared: a pool too small
    /// for the workers is refused, and one worker per CPU stops at what the pool can feed.
    #[test]
    fn postgres_workers_leave_a_connection_for_readiness() {
        let postgres = ("APP__DATABASE__URL", "postgres://u:p@db/items");
        for (vars, message) in [
            (
                vec![postgres, ("APP__DATABASE__MAX_CONNECTIONS", "1")],
                "database.max_connections: at least 2 on PostgreSQL (a connection per worker, \
                 and one for readiness checks and housekeeping)",
            ),
            (
                vec![
                    postgres,
                    ("APP__DATABASE__MAX_CONNECTIONS", "16"),
                    ("APP__SERVER__WORKERS", "16"),
                ],
                "server.workers: 16 workers need database.max_connections of at least 17 on \
                 PostgreSQL (16 now): each keeps a connection, and one is left for readiness \
                 checks and housekeeping",
            ),
        ] {
            let error = load(Environment::Development, &vars).unwrap_err();
            assert_eq!(error.to_string(), format!("configuration error: {message}"));
        }
        let settings = load(
            Environment::Development,
            &[postgres, ("APP__DATABASE__MAX_CONNECTIONS", "2")],
        )
        .unwrap();
        assert_eq!(
            settings.workers(),
            1,
            "one per CPU, but one connection is shared"
        );
        let settings = load(
            Environment::Development,
            &[
                postgres,
                ("APP__DATABASE__MAX_CONNECTIONS", "16"),
                ("APP__SERVER__WORKERS", "15"),
            ],
        )
        .unwrap();
        assert_eq!(settings.workers(), 15);
        // SQLite's connections are not kept by workers.
        let settings = load(
            Environment::Development,
            &[
                ("APP__DATABASE__MAX_CONNECTIONS", "1"),
                ("APP__SERVER__WORKERS", "4"),
            ],
        )
        .unwrap();
        assert_eq!(settings.workers(), 4);
    }

    #[test]
    fn a_database_url_the_driver_cannot_parse_is_a_configuration_error() {
        for (url, message) in [
            (
                "postgres://u:s3cret@db:notaport/items",
                "database.url: postgres://u:[redacted]@db:notaport/items cannot be parsed: invalid \
                 port number",
            ),
            (
                "postgres://u:s3cret@db/items?sslmode=sometimes",
                "database.url: postgres://u:[redacted]@db/items?sslmode=sometimes cannot be \
                 parsed: unknown value \"sometimes\" for `ssl_mode`",
            ),
        ] {
            let error = load(Environment::Development, &[("APP__DATABASE__URL", url)]).unwrap_err();
            assert_eq!(error.to_string(), format!("configuration error: {message}"));
        }
    }

    #[test]
    fn numbers_and_booleans_are_taken_strictly() {
        for (name, value, message) in [
            (
                "APP__SERVER__PORT",
                "8220.7",
                "server.port: expected an integer, got 8220.7",
            ),
            (
                "APP__SERVER__WORKERS",
                "1.5",
                "server.workers: expected an integer, got 1.5",
            ),
            (
                "APP__SERVER__WORKERS",
                "1e2",
                "server.workers: expected an integer, got 100.0",
            ),
            (
                "APP__DATABASE__STATEMENT_TIMEOUT_MS",
                "true",
                "database.statement_timeout_ms: expected an integer, got true",
            ),
            (
                "APP__THROTTLE__ENABLED",
                "2",
                "throttle.enabled: expected a boolean, got 2",
            ),
            (
                "APP__THROTTLE__ENABLED",
                "0.5",
                "throttle.enabled: expected a boolean, got 0.5",
            ),
            (
                "APP__THROTTLE__ENABLED",
                "maybe",
                "throttle.enabled: expected a boolean, got \"maybe\"",
            ),
            // What the config crate refuses itself, said the same way: the key first.
            (
                "APP__SERVER__PORT",
                "70000",
                "server.port: expected a whole number from 0 to 65535, got 70000",
            ),
            (
                "APP__PAGINATION__MAX_PAGE_SIZE",
                "-1",
                "pagination.max_page_size: expected a whole number, 0 or more, got -1",
            ),
            (
                "APP__LOG__PROT",
                "1",
                "log.prot: no such key (log has level, format)",
            ),
            (
                "APP__LGO__LEVEL",
                "info",
                "lgo: no such section (the sections are server, database, pagination, auth, \
                 throttle, idempotency, cors, log)",
            ),
            // A list key set to one value that reads as a number is that value, judged.
            (
                "APP__SERVER__TRUSTED_PROXIES",
                "10",
                "server.trusted_proxies: \"10\" is not an IP network (e.g. 10.0.0.0/8, \
                 192.168.1.5, fd00::/8)",
            ),
        ] {
            let error = load(Environment::Development, &[(name, value)]).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("configuration error: {message}"),
                "{name}={value}"
            );
        }
        for (name, value) in [
            ("APP__SERVER__WORKERS", "3"),
            ("APP__THROTTLE__ENABLED", "true"),
            ("APP__THROTTLE__ENABLED", "1"),
            ("APP__THROTTLE__ENABLED", "off"),
        ] {
            assert!(
                load(Environment::Development, &[(name, value)]).is_ok(),
                "{name}={value}"
            );
        }
        // In a file too: a quoted number is text.
        let dir = tempfile_dir();
        std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
        std::fs::write(dir.join("development.toml"), "[server]\nport = \"8220\"\n").unwrap();
        let error =
            Settings::load_from(&dir, Environment::Development, HashMap::new()).unwrap_err();
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(
            error.to_string(),
            "configuration error: server.port: expected an integer, got \"8220\""
        );
    }

    /// A fresh folder under the system's temporary directory.
    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "settings-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn proxies_hosts_and_the_throttle_store_come_from_the_environment() {
        let settings = load(Environment::Development, &[]).unwrap();
        assert!(settings.server.trusted_proxies.is_empty());
        assert_eq!(
            settings.server.allowed_hosts,
            ["localhost", "127.0.0.1", "[::1]"]
        );
        assert_eq!(settings.throttle.store, ThrottleStore::Memory);
        assert!(settings.throttle.fail_open);
        let settings = load(
            Environment::Development,
            &[
                (
                    "APP__SERVER__TRUSTED_PROXIES",
                    "10.0.0.0/8,fd00::/8, 192.168.1.5",
                ),
                ("APP__SERVER__ALLOWED_HOSTS", "api.example.com,.example.org"),
                ("APP__THROTTLE__STORE", "redis"),
                ("APP__THROTTLE__REDIS_URL", "redis://cache:6379/1"),
                ("APP__THROTTLE__REDIS_TIMEOUT_MS", "80"),
                ("APP__THROTTLE__FAIL_OPEN", "false"),
            ],
        )
        .unwrap();
        assert_eq!(
            settings.server.trusted_proxies,
            ["10.0.0.0/8", "fd00::/8", " 192.168.1.5"]
        );
        assert_eq!(
            settings.server.allowed_hosts,
            ["api.example.com", ".example.org"]
        );
        assert_eq!(settings.throttle.store, ThrottleStore::Redis);
        assert_eq!(settings.throttle.redis_timeout_ms, 80);
        assert!(!settings.throttle.fail_open);
        let empty = load(
            Environment::Development,
            &[("APP__SERVER__TRUSTED_PROXIES", "")],
        )
        .unwrap();
        assert!(empty.server.trusted_proxies.iter().all(|p| p.is_empty()));
    }

    #[test]
    fn bad_proxies_hosts_and_redis_urls_name_their_key() {
        let cases = [
            (
                "APP__SERVER__TRUSTED_PROXIES",
                "10.0.0.0/8,10.0.0.300/32",
                "server.trusted_proxies",
            ),
            (
                "APP__SERVER__TRUSTED_PROXIES",
                "proxy.internal",
                "server.trusted_proxies",
            ),
            (
                "APP__SERVER__ALLOWED_HOSTS",
                "api.example.com:443",
                "server.allowed_hosts",
            ),
            ("APP__SERVER__ALLOWED_HOSTS", "", "server.allowed_hosts"),
            (
                "APP__THROTTLE__REDIS_URL",
                "http://cache:6379",
                "throttle.redis_url",
            ),
            ("APP__THROTTLE__STORE", "memcached", "throttle.store"),
            (
                "APP__THROTTLE__REDIS_TIMEOUT_MS",
                "0",
                "throttle.redis_timeout_ms",
            ),
        ];
        for (name, value, key) in cases {
            let error = load(Environment::Development, &[(name, value)])
                .unwrap_err()
                .to_string();
            assert!(error.contains(key), "{name}={value}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
        let error = load(
            Environment::Development,
            &[("APP__SERVER__TRUST_FORWARDED_HEADERS", "true")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("trust_forwarded_headers"),
            "the removed key: {error}"
        );
        let error = load(
            Environment::Development,
            &[("APP__THROTTLE__STORE", "redis")],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("throttle.redis_url"), "{error}");

        // rediss:// is a Redis URL; a CA file must be readable PEM, and goes with rediss://.
        let redis = |url: &str, ca: &str| {
            load(
                Environment::Development,
                &[
                    ("APP__THROTTLE__STORE", "redis"),
                    ("APP__THROTTLE__REDIS_URL", url),
                    ("APP__THROTTLE__REDIS_CA_FILE", ca),
                ],
            )
            .map(drop)
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            redis("rediss://:secret@cache.example.com:6380/0", ""),
            Ok(())
        );
        let dir = tempfile_dir();
        let pem = dir.join("ca.pem");
        std::fs::write(&pem, "not a certificate").unwrap();
        let pem = pem.display().to_string();
        for (url, ca, expected) in [
            (
                "redis://cache:6379",
                pem.as_str(),
                "not a rediss:// (TLS) URL",
            ),
            (
                "rediss://cache:6380",
                "/no/such/ca.pem",
                "cannot read /no/such/ca.pem",
            ),
            ("rediss://cache:6380", pem.as_str(), "no PEM certificate"),
        ] {
            let error = redis(url, ca).unwrap_err();
            assert!(
                error.contains("throttle.redis_ca_file") && error.contains(expected),
                "{url} {ca}: {error}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
