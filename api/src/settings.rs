//! Configuration: `config/default.toml`, then `config/$APP_ENV.toml`, then
//! `APP__SECTION__KEY` environment variables, then `DATABASE_URL`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use domain::auth::{Permission, Rate};
use domain::query::{CountMode, PageDefaults};
use infrastructure::DatabaseSettings;
use serde::Deserialize;

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
    pub body_limit_bytes: usize,
    pub readiness_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub trust_forwarded_headers: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaginationSettings {
    pub default_page_size: u64,
    pub max_page_size: u64,
    pub count: CountMode,
}

impl PaginationSettings {
    pub fn defaults(&self) -> PageDefaults {
        PageDefaults {
            page_size: self.default_page_size,
            max_page_size: self.max_page_size,
            count: self.count,
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

/// Which overlay file applies: `APP_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
            Environment::Test => "test",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_lowercase().as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "production" | "prod" => Ok(Environment::Production),
            "test" => Ok(Environment::Test),
            other => Err(format!(
                "APP_ENV: unknown environment \"{other}\" (expected development, production or test)"
            )),
        }
    }
}

/// A configuration problem, as one line naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct SettingsError(pub String);

impl Settings {
    /// Loads from the process environment: `APP_ENV`, `APP_CONFIG_DIR` (default `config`),
    /// `APP__*` and `DATABASE_URL`.
    pub fn load() -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let dir = vars
            .get("APP_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        let environment = match vars.get("APP_ENV") {
            Some(name) => name.parse().map_err(SettingsError)?,
            None => Environment::Development,
        };
        Settings::load_from(&dir, environment, vars)
    }

    /// Loads from `dir` for `environment`, with `vars` standing for the environment variables.
    pub fn load_from(
        dir: &Path,
        environment: Environment,
        vars: HashMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let base = dir.join("default.toml");
        if !base.is_file() {
            return Err(SettingsError(format!(
                "{} not found: run from the folder holding config/, or set APP_CONFIG_DIR",
                base.display()
            )));
        }
        let database_url = vars.get("DATABASE_URL").cloned();
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(base))
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
                    .source(Some(vars)),
            )
            .set_override_option("database.url", database_url)
            .and_then(|builder| builder.build())
            .and_then(|config| config.try_deserialize())
            .map_err(|error| SettingsError(error.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        self.database.check().map_err(SettingsError)?;
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
        let production = load(Environment::Production, &[]).unwrap();
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
        assert!(
            "nonsense"
                .parse::<Environment>()
                .unwrap_err()
                .contains("APP_ENV")
        );
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
            &[("DATABASE_URL", "postgres://u:hunter2@h/db")],
        )
        .unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
