//! Middleware of our own: request ids, the request's span, log line and metrics.

mod observe;
mod request_id;

pub use observe::Observe;
