//! Logs: readable lines in development, JSON lines in production, one span per request
//! carrying its method, route, request id and, when it ends, status and latency.

mod json;

use std::borrow::Cow;
use std::io::BufWriter;
use std::io::IsTerminal;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use self::json::{JsonFields, JsonFormat};
use crate::metrics;
use crate::middleware::RequestInfo;
use crate::settings::{LogFormat, LogSettings, SettingsError};

/// Lines waiting for the writer thread at most; past that, new lines are dropped rather
/// than requests slowed down (and memory bounded).
const LOG_QUEUE_LINES: usize = 8192;

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `log.level`. Lines are
/// written to standard output by a thread of their own, in batches: a request never waits
/// on a write. Keep the guard until exit: dropping it flushes what is queued.
pub fn init(settings: &LogSettings) -> Result<WorkerGuard, SettingsError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => {
            EnvFilter::try_new(directives).map_err(|e| SettingsError(format!("RUST_LOG: {e}")))?
        }
        Err(_) => EnvFilter::try_new(&settings.level)
            .map_err(|e| SettingsError(format!("log.level: {e}")))?,
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(BufWriter::new(std::io::stdout()));
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

/// The root span of every request, for `tracing_actix_web::TracingLogger`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    /// The route is recorded when the request ends: by then it is known without matching
    /// the path against every route a second time.
    fn on_request_start(request: &ServiceRequest) -> Span {
        metrics::started();
        let extensions = request.extensions();
        let request_id = extensions
            .get::<RequestInfo>()
            .map(RequestInfo::id)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %request.method(),
            route = tracing::field::Empty,
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    /// Counts the request in the metrics, then logs it (when `info` is enabled).
    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let (method, route, status, started) = match outcome {
            Ok(response) => {
                let request = response.request();
                let started = request
                    .extensions()
                    .get::<RequestInfo>()
                    .map(|info| info.started);
                // Resources are named after their pattern: no allocation, no second match.
                let route = request
                    .match_name()
                    .map(Cow::Borrowed)
                    .or_else(|| request.match_pattern().map(Cow::Owned));
                (
                    request.method().as_str(),
                    route,
                    response.status().as_u16(),
                    started,
                )
            }
            Err(error) => (
                "unknown",
                None,
                error.as_response_error().status_code().as_u16(),
                None,
            ),
        };
        let route = route.as_deref().unwrap_or("unmatched");
        let seconds = started
            .map(|t: Instant| t.elapsed().as_secs_f64())
            .unwrap_or_default();
        metrics::finished(method, route, status, seconds);
        if span.is_disabled() {
            return;
        }
        let latency_ms = (seconds * 1e6).round() / 1e3;
        span.record("route", route);
        span.record("status", status);
        span.in_scope(|| tracing::info!(status, latency_ms, "request completed"));
    }
}
