//! Logs: readable lines in development, JSON lines in production. The span and line of each
//! request come from [`crate::middleware::Observe`].

mod json;
mod writer;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use self::json::JsonLayer;
pub use self::writer::FlushGuard;
use crate::settings::{LogFormat, LogSettings, SettingsError};

/// Bytes of lines waiting for the writer thread at most; past that, new lines are dropped
/// (and counted) rather than requests slowed down or memory grown.
const LOG_BUFFER_BYTES: usize = 4 << 20;

/// The level filter. Directives by target and level only (`info`, `api=debug,sqlx=warn`)
/// become a `Targets` filter, which keeps no state per span; `EnvFilter` takes a lock on every
/// span entered and left, and is used only for what needs it (span and field directives).
struct Filter {
    targets: Option<Targets>,
    env: Option<EnvFilter>,
}

impl Filter {
    fn parse(directives: &str) -> Result<Filter, String> {
        if !directives.contains(['[', '{'])
            && let Ok(targets) = directives.parse::<Targets>()
        {
            return Ok(Filter {
                targets: Some(targets),
                env: None,
            });
        }
        let env = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        Ok(Filter {
            targets: None,
            env: Some(env),
        })
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `log.level`. Lines are
/// written to standard output by a thread of their own, in batches: a request never waits
/// on a write. Keep the guard until exit: dropping it writes what is pending.
pub fn init(settings: &LogSettings) -> Result<FlushGuard, SettingsError> {
    let (source, directives) = match std::env::var("RUST_LOG") {
        Ok(directives) => ("RUST_LOG", directives),
        Err(_) => ("log.level", settings.level.clone()),
    };
    let filter = Filter::parse(&directives).map_err(|e| SettingsError(format!("{source}: {e}")))?;
    let (writer, guard) = writer::batched(std::io::stdout(), LOG_BUFFER_BYTES)
        .map_err(|e| SettingsError(format!("starting the log writer: {e}")))?;
    let registry = tracing_subscriber::registry()
        .with(filter.targets)
        .with(filter.env);
    let result = match settings.format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(JsonLayer::new(move |line: &[u8]| writer.line(line)))
            .try_init(),
    };
    // Already installed (tests start many apps in one process): keep the first.
    drop(result);
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_directives_need_no_env_filter() {
        for plain in ["info", "warn,api=debug", "api::middleware=trace,sqlx=off"] {
            let filter = Filter::parse(plain).unwrap();
            assert!(filter.targets.is_some() && filter.env.is_none(), "{plain}");
        }
        let spans = Filter::parse("info,[request{method=GET}]=debug").unwrap();
        assert!(spans.targets.is_none() && spans.env.is_some());
        assert!(Filter::parse("api=loud").is_err());
    }
}
