//! Where the CLI finds its database URL.

use std::path::Path;

use infrastructure::Environment;
use infrastructure::environment::NO_DATABASE_URL;

/// `-u`/`--database-url`, else `DATABASE_URL`, else the service's configuration files (an
/// empty variable counts as unset, as the service counts it).
pub fn database_url() -> Result<String, String> {
    if let Some(url) = flag(std::env::args().skip(1), "-u", "--database-url") {
        return Ok(url);
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        _ => url_from_config(),
    }
}

/// The PostgreSQL schema to migrate: `-s`/`--database-schema`, else `DATABASE_SCHEMA` (the
/// library's CLI takes both, but hands them only to connections it makes itself); none: the
/// role's `search_path` (`public`).
pub fn database_schema() -> Option<String> {
    flag(std::env::args().skip(1), "-s", "--database-schema")
        .or_else(|| std::env::var("DATABASE_SCHEMA").ok())
        .filter(|schema| !schema.trim().is_empty())
}

/// The value of an option given as `-x V`, `-xV`, `-x=V`, `--long V` or `--long=V`.
fn flag(mut args: impl Iterator<Item = String>, short: &str, long: &str) -> Option<String> {
    while let Some(arg) = args.next() {
        if arg == short || arg == long {
            return args.next();
        }
        if let Some(value) = arg
            .strip_prefix(&format!("{long}="))
            .or_else(|| arg.strip_prefix(short))
        {
            return Some(value.trim_start_matches('=').to_string());
        }
    }
    None
}

/// `database.url` as the api would load it: `config/default.toml`, then
/// `config/$APP_ENV.toml`, then `APP__DATABASE__URL`. As the api, production takes no URL
/// from `default.toml`: migrating the development SQLite file there would be a silent mistake.
fn url_from_config() -> Result<String, String> {
    let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".into());
    let environment: Environment = match std::env::var("APP_ENV") {
        Ok(name) => name.parse()?,
        Err(_) => Environment::Development,
    };
    let base = Path::new(&dir).join("default.toml");
    if !base.is_file() {
        return Err(format!(
            "no database URL: pass -u URL, set DATABASE_URL, or run from the folder holding config/ ({} not found)",
            base.display()
        ));
    }
    let overlay = config::Config::builder()
        .add_source(
            config::File::from(Path::new(&dir).join(format!("{}.toml", environment.as_str())))
                .required(false),
        )
        .add_source(
            config::Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__"),
        )
        .build()
        .map_err(|error| format!("database.url: {error}"))?;
    let explicit = overlay
        .get_string("database.url")
        .is_ok_and(|url| !url.trim().is_empty());
    if environment == Environment::Production && !explicit {
        return Err(format!("{NO_DATABASE_URL}; or pass -u URL"));
    }
    config::Config::builder()
        .add_source(config::File::from(base))
        .add_source(overlay)
        .build()
        .and_then(|settings| settings.get_string("database.url"))
        .map_err(|error| format!("database.url: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn reads_the_url_flag_in_all_its_spellings() {
        for list in [
            &["up", "-u", "sqlite::memory:"][..],
            &["-usqlite::memory:", "up"],
            &["--database-url", "sqlite::memory:"],
            &["status", "--database-url=sqlite::memory:"],
        ] {
            assert_eq!(
                flag(args(list), "-u", "--database-url").as_deref(),
                Some("sqlite::memory:"),
                "{list:?}"
            );
        }
        assert_eq!(flag(args(&["up", "-n", "1"]), "-u", "--database-url"), None);
        assert_eq!(
            flag(args(&["-s", "other", "up"]), "-s", "--database-schema").as_deref(),
            Some("other")
        );
        assert_eq!(
            flag(
                args(&["--database-schema=other"]),
                "-s",
                "--database-schema"
            )
            .as_deref(),
            Some("other")
        );
    }
}
