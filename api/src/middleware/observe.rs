//! What every request goes through first: its id (`X-Request-Id`), its span (method, route,
//! request id, status, latency: DESIGN §8), its log line and its metrics. One middleware with
//! a future of its own rather than a stack of them: no boxed future, no second id, no span
//! entered again while the (already complete) body is written.

use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::Error;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::http::header::HeaderValue;
use tracing::Span;
use tracing::field::{Field, Value};

use super::request_id::{X_REQUEST_ID, acceptable, generate};
use crate::metrics;

/// The middleware factory: `App::wrap(Observe)`, outermost.
pub struct Observe;

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = ObserveMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ObserveMiddleware { service }))
    }
}

pub struct ObserveMiddleware<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for ObserveMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Observed<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        metrics::started();
        let id = match request.headers().get(&X_REQUEST_ID) {
            Some(id) if acceptable(id) => id.clone(),
            _ => generate(),
        };
        let method = request.method().clone();
        // The route and status are recorded when the request ends: by then the route is
        // known without matching the path a second time.
        let span = tracing::info_span!(
            "request",
            method = method.as_str(),
            route = tracing::field::Empty,
            request_id = id.to_str().unwrap_or_default(),
            status = tracing::field::Empty,
        );
        let inner = span.in_scope(|| self.service.call(request));
        Observed {
            inner,
            span,
            id: Some(id),
            method,
            started,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct Observed<F> {
        #[pin]
        inner: F,
        span: Span,
        id: Option<HeaderValue>,
        method: Method,
        started: Instant,
    }
}

impl<F, B> Future for Observed<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = {
            let _entered = this.span.enter();
            match this.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => outcome,
            }
        };
        let seconds = this.started.elapsed().as_secs_f64();
        match outcome {
            Ok(mut response) => {
                let request = response.request();
                // Resources are named after their pattern: no allocation, no second match.
                let pattern;
                let route = match request.match_name() {
                    Some(name) => name,
                    None => {
                        pattern = request.match_pattern();
                        pattern.as_deref().unwrap_or("unmatched")
                    }
                };
                let status = response.status().as_u16();
                finished(this.span, this.method.as_str(), route, status, seconds);
                if let Some(id) = this.id.take() {
                    response.headers_mut().insert(X_REQUEST_ID, id);
                }
                Poll::Ready(Ok(response))
            }
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                finished(
                    this.span,
                    this.method.as_str(),
                    "unmatched",
                    status,
                    seconds,
                );
                Poll::Ready(Err(error))
            }
        }
    }
}

/// Counts the request in the metrics, then logs it (when `info` is enabled).
fn finished(span: &Span, method: &str, route: &str, status: u16, seconds: f64) {
    metrics::finished(method, route, status, seconds);
    if span.is_disabled() {
        return;
    }
    let latency_ms = (seconds * 1e6).round() / 1e3;
    // Both fields in one record: the subscriber looks the span up once, not twice.
    if let Some(metadata) = span.metadata() {
        let fields = metadata.fields();
        if let (Some(route_field), Some(status_field)) =
            (fields.field("route"), fields.field("status"))
        {
            let values: [(&Field, Option<&dyn Value>); 2] =
                [(&route_field, Some(&route)), (&status_field, Some(&status))];
            span.record_all(&fields.value_set(&values));
        }
    }
    // The span as explicit parent: no entering and leaving it for one event.
    tracing::info!(parent: span, latency_ms, "request completed");
}
