//! `APP_ENV`: which configuration overlay applies, read the same way by the service and the
//! migration CLI.

/// Which overlay file applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
    Test,
}

/// Production's refusal of a configuration that names no database: its only default is the
/// development SQLite file.
pub const NO_DATABASE_URL: &str = "database.url: APP_ENV=production needs an explicit database URL: \
     set APP__DATABASE__URL or DATABASE_URL (the SQLite default is for development only)";

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
