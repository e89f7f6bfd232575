//! What every request goes through first: tracing-actix-web's root span (OpenTelemetry's
//! semantic conventions: `http.method`, `http.route`, `http.status_code`, `request_id`...),
//! one `request completed` line with its latency, its metrics, and `X-Request-Id`.
//!
//! `X-Request-Id`: a client's id of at most 128 visible ASCII characters is echoed and is the
//! span's `request_id`; otherwise the id tracing-actix-web generated is used. Never an error.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use crate::viewset::AppState;

use crate::metrics;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

/// The request's id and when it started, kept in its extensions.
#[derive(Clone)]
struct Started {
    id: HeaderValue,
    at: Instant,
}

fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// The root span of every request: `App::wrap(TracingLogger::<RequestSpan>::new())`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        metrics::started();
        // The fields of tracing-actix-web's `root_span!` that a request line needs, under the
        // same OpenTelemetry names (the crate records the status, the OpenTelemetry status
        // and any error into them): not the host, scheme, flavor, target and user agent, nor
        // `otel.name`, which cost a quarter of a GET's throughput formatted on every request
        // (bench/README.md, "Logging"). The client address is the one throttling uses, from
        // `server.trusted_proxies`, not the leftmost `X-Forwarded-For`.
        let id = match request.headers().get(&X_REQUEST_ID) {
            Some(id) if acceptable(id) => id.clone(),
            _ => request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| {
                    let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
                    HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes()).ok()
                })
                .unwrap_or(HeaderValue::from_static("-")),
        };
        let client = request
            .app_data::<web::Data<AppState>>()
            .map(|state| state.proxies.client_ip(request.request()));
        let route = request.match_pattern();
        // Every field known now is given now: each later `record` costs a subscriber call.
        let span = tracing::info_span!(
            "HTTP request",
            http.method = request.method().as_str(),
            http.route = route.as_deref().unwrap_or("default"),
            http.client_ip = client.map(tracing::field::display),
            http.status_code = Empty,
            otel.kind = "server",
            otel.status_code = Empty,
            request_id = id.to_str().ok(),
            exception.message = Empty,
            exception.details = Empty,
        );
        request.extensions_mut().insert(Started {
            id,
            at: Instant::now(),
        });
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let seconds = match outcome {
            Ok(response) => {
                let request = response.request();
                let started = request.extensions().get::<Started>().map(|s| s.at);
                let seconds = started.map_or(0.0, |at| at.elapsed().as_secs_f64());
                let route = request.match_name().unwrap_or("unmatched");
                let status = response.status().as_u16();
                metrics::finished(request.method().as_str(), route, status, seconds);
                seconds
            }
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                metrics::finished("UNKNOWN", "unmatched", status, 0.0);
                0.0
            }
        };
        // The status first, so that the line carries it.
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        let latency_ms = (seconds * 1e6).round() / 1e3;
        tracing::info!(parent: &span, latency_ms, "request completed");
    }
}

/// Puts the request's id on its response, and `Connection: close` once the process is
/// shutting down ([`crate::startup::shutting_down`]): `App::wrap(from_fn(response_headers))`,
/// inside the tracing middleware.
pub async fn response_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request.extensions().get::<Started>().map(|s| s.id.clone());
    let mut response = next.call(request).await?;
    if let Some(id) = id {
        response.headers_mut().insert(X_REQUEST_ID, id);
    }
    if crate::startup::shutting_down() {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_only_short_visible_ascii() {
        assert!(acceptable(&HeaderValue::from_static("abc-123_XYZ")));
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
        assert!(acceptable(
            &HeaderValue::from_str(&"a".repeat(128)).unwrap()
        ));
        assert!(!acceptable(
            &HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()
        ));
    }
}
