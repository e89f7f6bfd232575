//! Logs: readable lines in development (tracing-subscriber's `fmt` layer), JSON lines in
//! production (`telemetry/json.rs`, a lean layer of the same shape), written to standard
//! output by tracing-appender's writer thread, so a request never waits on a write. Each
//! request's span and its `request completed` line come from [`requests`], a
//! tracing-actix-web root span.

mod json;
pub mod requests;

use std::io::IsTerminal;
use std::sync::OnceLock;

use std::io::Write;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{LogFormat, LogSettings, SettingsError};

/// Lines waiting for the writer thread at most; past that, new lines are dropped (and counted
/// in `/metrics`) rather than requests slowed down or memory grown.
const BUFFERED_LINES: usize = 64 * 1024;

/// Bytes the writer thread gathers before a write (it also writes whenever it runs dry).
const WRITE_BUFFER: usize = 64 * 1024;

/// Lines the writer dropped because its buffer was full: read by `/metrics`.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

/// The level filter. Directives by target and level only (`info`, `api=debug,sqlx=warn`)
/// become a `Targets` filter, which keeps no state per span; `EnvFilter`, which takes a lock
/// on every span entered and left, only where span or field directives need it.
///
/// actix-http logs each request it cannot parse (answered 400) at ERROR, which would let any
/// client write errors into the log: that target is off unless a directive names `actix_http`.
/// sqlx logs PostgreSQL's notices at INFO (`relation "seaql_migrations" already exists,
/// skipping` at every start that migrates): only its warnings are kept unless a directive
/// names `sqlx::postgres::notice`.
fn filter(
    directives: &str,
) -> Result<(Option<Targets>, Option<EnvFilter>), tracing_subscriber::filter::ParseError> {
    let mut directives = directives.to_string();
    for (named, default) in [
        ("actix_http", "actix_http::h1::dispatcher=off"),
        ("sqlx::postgres::notice", "sqlx::postgres::notice=warn"),
    ] {
        if !directives.contains(named) {
            directives = format!("{directives},{default}");
        }
    }
    let directives = &directives;
    if !directives.contains(['[', '{'])
        && let Ok(targets) = directives.parse::<Targets>()
    {
        return Ok((Some(targets), None));
    }
    EnvFilter::try_new(directives).map(|env| (None, Some(env)))
}

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `log.level`. Keep the guard
/// until exit: dropping it writes what is pending.
pub fn init(settings: &LogSettings) -> Result<WorkerGuard, SettingsError> {
    let (source, directives) = match std::env::var("RUST_LOG") {
        Ok(directives) => {
            crate::settings::check_log_level("RUST_LOG", &directives).map_err(SettingsError)?;
            ("RUST_LOG", directives)
        }
        Err(_) => ("log.level", settings.level.clone()),
    };
    let (targets, env) = filter(&directives).map_err(|e| {
        // Name the directive at fault, not only what is wrong with it.
        let culprit = directives
            .split(',')
            .map(str::trim)
            .find(|d| !d.is_empty() && d.parse::<Directive>().is_err());
        SettingsError(match culprit {
            Some(directive) => format!("{source}: \"{directive}\": {e}"),
            None => format!("{source}: {e}"),
        })
    })?;
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        .thread_name("log-writer")
        // Buffered: the writer thread flushes once it has drained what is waiting, so under
        // load one write carries many lines instead of one system call per line.
        .finish(std::io::BufWriter::with_capacity(
            WRITE_BUFFER,
            std::io::stdout(),
        ));
    let _ = DROPPED.set(writer.error_counter());
    let registry = tracing_subscriber::registry().with(targets).with(env);
    let result = match settings.format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(std::io::stdout().is_terminal()),
            )
            .try_init(),
        // The hand-written layer, not tracing-subscriber's `json()`: side by side it serves
        // 1.3x the GETs (bench/README.md, "Logging"), since the library formats every span's
        // fields when the span opens and parses them back for each line.
        LogFormat::Json => registry
            .with(json::JsonLayer::new(move |line: &[u8]| {
                let _ = writer.clone().write_all(line);
            }))
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
        for plain in ["info", "warn,api=debug", "api::viewset=trace,sqlx=off"] {
            let (targets, env) = filter(plain).unwrap();
            assert!(targets.is_some() && env.is_none(), "{plain}");
        }
        let (targets, env) = filter("info,[HTTP request{http.method=GET}]=debug").unwrap();
        assert!(targets.is_none() && env.is_some());
        assert!(filter("api=loud").is_err());
    }

    /// actix-http's ERROR line per unparseable request: off, unless asked for by name.
    #[test]
    fn unparseable_requests_do_not_log_errors_unless_asked() {
        use tracing::Level;
        let dispatcher = "actix_http::h1::dispatcher";
        for directives in ["info", "warn,api=debug", "trace"] {
            let targets = filter(directives).unwrap().0.unwrap();
            assert!(
                !targets.would_enable(dispatcher, &Level::ERROR),
                "{directives}"
            );
            assert!(
                targets.would_enable("api::startup", &Level::ERROR),
                "{directives}"
            );
        }
        let targets = filter("info,actix_http=debug").unwrap().0.unwrap();
        assert!(targets.would_enable(dispatcher, &Level::ERROR));
    }

    /// PostgreSQL's notices (INFO in sqlx): only its warnings, unless asked for by name.
    #[test]
    fn postgres_notices_are_kept_from_warnings_up_unless_asked() {
        use tracing::Level;
        let notice = "sqlx::postgres::notice";
        let targets = filter("info").unwrap().0.unwrap();
        assert!(!targets.would_enable(notice, &Level::INFO));
        assert!(targets.would_enable(notice, &Level::WARN));
        assert!(targets.would_enable("sqlx::query", &Level::INFO));
        let targets = filter("info,sqlx::postgres::notice=info")
            .unwrap()
            .0
            .unwrap();
        assert!(targets.would_enable(notice, &Level::INFO));
    }
}
