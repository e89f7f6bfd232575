//! `X-Request-Id`: a client's id (at most 128 visible ASCII characters) is echoed, anything
//! else is replaced by a generated one. Never an error. Applied by [`super::Observe`].

use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::header::{HeaderName, HeaderValue};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

pub(super) fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A random per-process prefix and a counter, as 32 hex digits: unique across instances,
/// no syscall and no formatting machinery per id.
pub(super) fn generate() -> HeaderValue {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 32];
    for (i, word) in [*PREFIX, COUNTER.fetch_add(1, Ordering::Relaxed)]
        .into_iter()
        .enumerate()
    {
        for j in 0..16 {
            digits[i * 16 + j] = HEX[((word >> (60 - 4 * j)) & 0xf) as usize];
        }
    }
    HeaderValue::from_bytes(&digits).unwrap_or(HeaderValue::from_static("0"))
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

    #[test]
    fn generated_ids_are_unique_hex_and_acceptable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(acceptable(&a));
        assert_eq!(a.len(), 32);
        assert!(a.to_str().unwrap().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
