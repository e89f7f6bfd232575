//! Logs: readable lines in development, JSON lines in production. The span and line of each
//! request come from [`crate::middleware::Observe`].

mod json;
mod writer;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use self::json::{JsonFields, JsonFormat};
pub use self::writer::FlushGuard;
use crate::settings::{LogFormat, LogSettings, SettingsError};

/// Bytes of lines waiting for the writer thread at most; past that, new lines are dropped
/// (and counted) rather than requests slowed down or memory grown.
const LOG_BUFFER_BYTES: usize = 4 << 20;

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `log.level`. Lines are
/// written to standard output by a thread of their own, in batches: a request never waits
/// on a write. Keep the guard until exit: dropping it writes what is pending.
pub fn init(settings: &LogSettings) -> Result<FlushGuard, SettingsError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => {
            EnvFilter::try_new(directives).map_err(|e| SettingsError(format!("RUST_LOG: {e}")))?
        }
        Err(_) => EnvFilter::try_new(&settings.level)
            .map_err(|e| SettingsError(format!("log.level: {e}")))?,
    };
    let (writer, guard) = writer::batched(std::io::stdout(), LOG_BUFFER_BYTES)
        .map_err(|e| SettingsError(format!("starting the log writer: {e}")))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields)
                    .event_format(JsonFormat)
                    .with_writer(writer),
            )
            .try_init(),
    };
    // Already installed (tests start many apps in one process): keep the first.
    drop(result);
    Ok(guard)
}
