//! Middleware of our own: request ids.

mod request_id;

pub use request_id::{RequestInfo, request_id};
