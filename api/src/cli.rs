//! The api binary's command line: `api` (or `api serve`) runs the service; `api token ...`
//! manages API tokens in the configured database; `api openapi` prints the OpenAPI document.

use clap::{Parser, Subcommand};
use infrastructure::PersistenceError;
use infrastructure::database::Db;

use crate::settings::Settings;
use crate::viewset::Router;
use crate::{docs, resources};

#[derive(Debug, Parser)]
#[command(
    name = "api",
    version,
    about = "The items API service and its administration commands"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Manage API tokens (`Authorization: Token <key>` or `Bearer <key>`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the OpenAPI document that `/api-docs/openapi.json` serves (JSON), without a
    /// database or a running server.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its key, once: only a hash of it is stored.
    Create {
        /// What the token is for, e.g. `ci` or `alice's laptop`.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their keys).
    List,
    /// Revoke a token by id, by its whole 12-character prefix, or by its key; requests with
    /// it are refused from then on.
    Revoke { id_or_prefix: String },
}

/// The OpenAPI document as the service built with `settings` serves it, as pretty JSON.
pub fn openapi(settings: &Settings) -> serde_json::Result<String> {
    let router = resources::register(Router::new());
    docs::document(&router, settings).to_pretty_json()
}

/// Runs a token command against the configured database. The key of a new token goes alone
/// to standard output (`KEY=$(api token create --name ci)`); everything else to standard error.
pub async fn token(
    settings: &Settings,
    command: TokenCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    let pool = infrastructure::database::connect(&settings.database).await?;
    if settings.database.auto_migrate {
        migration::up(&pool).await?;
    }
    let db = Db::transient(pool.clone(), settings.database.wire());
    let outcome = run_token(&db, command).await;
    drop(db);
    pool.close().await.ok();
    match outcome {
        Err(error)
            if error
                .downcast_ref::<PersistenceError>()
                .is_some_and(|e| matches!(e, PersistenceError::SchemaBehind(_))) =>
        {
            Err(
                "the database schema is behind this build: run the migrations (`migration up`)"
                    .into(),
            )
        }
        outcome => outcome,
    }
}

async fn run_token(db: &Db, command: TokenCommand) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        TokenCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                return Err(
                    "--name must be 1 to 100 characters, none of them control characters".into(),
                );
            }
            let (token, key) = infrastructure::tokens::create(db, name).await?;
            eprintln!(
                "Created token {} ({}, prefix {}). Its key, shown this once:",
                token.id, token.name, token.prefix
            );
            // A key nobody received must not stay valid.
            if let Err(error) = print(key) {
                infrastructure::tokens::revoke(db, &token.id.to_string()).await?;
                return Err(format!("{error}; token {} revoked", token.id).into());
            }
        }
        TokenCommand::List => {
            let tokens = infrastructure::tokens::list(db).await?;
            print(format_args!(
                "{:<6} {:<14} {:<25} {:<25} {:<25} name",
                "id", "prefix", "created", "last used", "revoked"
            ))?;
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
            };
            for t in tokens {
                print(format_args!(
                    "{:<6} {:<14} {:<25} {:<25} {:<25} {}",
                    t.id,
                    t.prefix,
                    time(Some(t.created_at)),
                    time(t.last_used_at),
                    time(t.revoked_at),
                    t.name
                ))?;
            }
        }
        TokenCommand::Revoke { id_or_prefix } => {
            // A key is named by its prefix alone: its secret part is never echoed.
            let named = domain::auth::key_prefix(&id_or_prefix).unwrap_or(&id_or_prefix);
            if !infrastructure::tokens::revoke(db, &id_or_prefix).await? {
                return Err(format!("no active token with id, prefix or key {named}").into());
            }
            eprintln!("Revoked token {named}.");
        }
    }
    Ok(())
}

/// One line to standard output, or why it could not be written (a closed pipe, a full disk):
/// an error, never a panic.
pub fn print(line: impl std::fmt::Display) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|error| format!("cannot write to standard output: {error}"))
}
