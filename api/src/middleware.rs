//! Middleware of our own: request ids.

mod request_id;

pub use request_id::{RequestId, RequestStart, request_id};
