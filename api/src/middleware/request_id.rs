//! `X-Request-Id`: a client's id (at most 128 visible ASCII characters) is echoed, anything
//! else is replaced by a generated one. Never an error.

use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

/// The request's id, in its extensions for logs and handlers.
#[derive(Clone, Debug)]
pub struct RequestId(Rc<str>);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When the request arrived, for its latency.
#[derive(Clone, Copy, Debug)]
pub struct RequestStart(pub Instant);

fn acceptable(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let visible = bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    (!bytes.is_empty() && bytes.len() <= MAX_LEN && visible)
        .then(|| value.to_str().ok())
        .flatten()
}

/// A random per-process prefix and a counter: unique across instances, no syscall per id.
fn generate() -> String {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:016x}",
        *PREFIX,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = RequestStart(Instant::now());
    let id: Rc<str> = match req.headers().get(&X_REQUEST_ID).and_then(acceptable) {
        Some(id) => id.into(),
        None => generate().into(),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(started);
    let mut response = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_only_short_visible_ascii() {
        assert_eq!(
            acceptable(&HeaderValue::from_static("abc-123_XYZ")),
            Some("abc-123_XYZ")
        );
        assert_eq!(acceptable(&HeaderValue::from_static("has space")), None);
        assert_eq!(acceptable(&HeaderValue::from_static("")), None);
        assert_eq!(
            acceptable(&HeaderValue::from_str(&"a".repeat(129)).unwrap()),
            None
        );
        assert!(acceptable(&HeaderValue::from_str(&"a".repeat(128)).unwrap()).is_some());
    }

    #[test]
    fn generated_ids_are_unique_and_acceptable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(acceptable(&HeaderValue::from_str(&a).unwrap()).is_some());
    }
}
