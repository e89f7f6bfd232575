//! Where the CLI finds its database URL.

use std::path::Path;

/// `-u`/`--database-url`, else `DATABASE_URL`, else the service's configuration files (an
/// empty variable counts as unset, as the service counts it).
pub fn database_url() -> Result<String, String> {
    if let Some(url) = url_from_args(std::env::args().skip(1)) {
        return Ok(url);
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        _ => url_from_config(),
    }
}

fn url_from_args(mut args: impl Iterator<Item = String>) -> Option<String> {
    while let Some(arg) = args.next() {
        if arg == "-u" || arg == "--database-url" {
            return args.next();
        }
        if let Some(url) = arg
            .strip_prefix("--database-url=")
            .or_else(|| arg.strip_prefix("-u"))
        {
            return Some(url.trim_start_matches('=').to_string());
        }
    }
    None
}

/// `database.url` as the api would load it: `config/default.toml`, then
/// `config/$APP_ENV.toml`, then `APP__DATABASE__URL`. As the api, production takes no URL
/// from `default.toml`: migrating the development SQLite file there would be a silent mistake.
fn url_from_config() -> Result<String, String> {
    let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".into());
    let environment = environment(std::env::var("APP_ENV").ok().as_deref())?;
    let base = Path::new(&dir).join("default.toml");
    if !base.is_file() {
        return Err(format!(
            "no database URL: pass -u URL, set DATABASE_URL, or run from the folder holding config/ ({} not found)",
            base.display()
        ));
    }
    let overlay = config::Config::builder()
        .add_source(
            config::File::from(Path::new(&dir).join(format!("{environment}.toml"))).required(false),
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
    if environment == "production" && !explicit {
        return Err(
            "database.url: APP_ENV=production needs an explicit database URL: pass -u URL, \
                    or set DATABASE_URL or APP__DATABASE__URL"
                .into(),
        );
    }
    config::Config::builder()
        .add_source(config::File::from(base))
        .add_source(overlay)
        .build()
        .and_then(|settings| settings.get_string("database.url"))
        .map_err(|error| format!("database.url: {error}"))
}

/// `APP_ENV` as the api reads it: `development` (default, or `dev`), `production` (`prod`)
/// or `test`.
fn environment(name: Option<&str>) -> Result<&'static str, String> {
    match name.map(str::to_lowercase).as_deref() {
        None | Some("development" | "dev") => Ok("development"),
        Some("production" | "prod") => Ok("production"),
        Some("test") => Ok("test"),
        Some(other) => Err(format!(
            "APP_ENV: unknown environment \"{other}\" (expected development, production or test)"
        )),
    }
}

/// SQLite creates the file (`mode=rwc`) but not its folder.
pub fn create_sqlite_folder(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or_default();
    match Path::new(path).parent() {
        Some(parent) if !path.starts_with(':') && !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))
        }
        _ => Ok(()),
    }
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
                url_from_args(args(list)).as_deref(),
                Some("sqlite::memory:"),
                "{list:?}"
            );
        }
        assert_eq!(url_from_args(args(&["up", "-n", "1"])), None);
    }

    #[test]
    fn reads_app_env_as_the_service_does() {
        assert_eq!(environment(None), Ok("development"));
        assert_eq!(environment(Some("prod")), Ok("production"));
        assert_eq!(environment(Some("Production")), Ok("production"));
        assert_eq!(environment(Some("dev")), Ok("development"));
        assert!(
            environment(Some("staging"))
                .unwrap_err()
                .contains("APP_ENV")
        );
    }
}
