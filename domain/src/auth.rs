//! Who is calling and what they may do: DRF's token authentication and permission
//! policies, and its throttle rates.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The permission policy of a resource (DRF's permission classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// `AllowAny`.
    AllowAny,
    /// `IsAuthenticatedOrReadOnly`: anyone reads, only token holders write.
    ReadOnlyUnlessAuthenticated,
    /// `IsAuthenticated`.
    Authenticated,
}

impl Permission {
    /// The configuration's names of the variants, as serde reads them.
    pub const CHOICES: [&'static str; 3] = [
        "allow_any",
        "read_only_unless_authenticated",
        "authenticated",
    ];

    /// Whether a caller may go on; `safe` is true for GET, HEAD and OPTIONS.
    pub fn allows(self, authenticated: bool, safe: bool) -> bool {
        match self {
            Permission::AllowAny => true,
            Permission::ReadOnlyUnlessAuthenticated => safe || authenticated,
            Permission::Authenticated => authenticated,
        }
    }

    /// Whether a request of this kind needs a token at all.
    pub fn requires_token(self, safe: bool) -> bool {
        !self.allows(false, safe)
    }
}

/// An authenticated caller: the token it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub name: String,
}

/// A new token key: the key is shown once, only its prefix and hash are stored.
#[derive(Debug)]
pub struct NewKey {
    /// `<prefix>.<secret>`: what the client sends.
    pub key: String,
    /// Public part, unique: finds the stored hash without comparing secrets in SQL.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub hash: String,
}

const PREFIX_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A random key from the operating system's generator.
pub fn generate_key() -> Result<NewKey, String> {
    let mut random = [0u8; PREFIX_BYTES + SECRET_BYTES];
    getrandom::fill(&mut random).map_err(|e| format!("no randomness available: {e}"))?;
    let prefix = hex(&random[..PREFIX_BYTES]);
    let key = format!(
        "{prefix}.{}",
        URL_SAFE_NO_PAD.encode(&random[PREFIX_BYTES..])
    );
    let hash = hash_key(&key);
    Ok(NewKey { key, prefix, hash })
}

/// The prefix of a key as clients send it, if it has the shape of one of ours.
pub fn key_prefix(key: &str) -> Option<&str> {
    let (prefix, secret) = key.split_once('.')?;
    let plausible = is_prefix(prefix) && !secret.is_empty() && secret.len() <= 64;
    plausible.then_some(prefix)
}

/// Whether `text` has the shape of a key's prefix (12 hex digits). Some prefixes are all
/// digits, so a prefix-shaped argument is read as a prefix before it is read as an id.
pub fn is_prefix(text: &str) -> bool {
    text.len() == PREFIX_BYTES * 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Compares a presented key with a stored hash in constant time.
pub fn verify_key(presented: &str, stored_hash: &str) -> bool {
    let computed = hash_key(presented);
    computed.len() == stored_hash.len()
        && computed
            .bytes()
            .zip(stored_hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A throttle rate in DRF's syntax: `"100/minute"` (also `s`, `sec`, `m`, `min`, `hour`,
/// `days`...: the start of `seconds`, `minutes`, `hours` or `days`). DRF reads only the
/// period's first letter, so `"100/month"` means per minute there; here it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(rate: &str) -> Result<Rate, String> {
        let invalid = || format!("invalid rate \"{rate}\" (expected e.g. \"100/minute\")");
        let (count, period) = rate.split_once('/').ok_or_else(invalid)?;
        let requests: u32 = count.trim().parse().map_err(|_| invalid())?;
        let period = period.trim().to_ascii_lowercase();
        let seconds = [
            ("seconds", 1),
            ("minutes", 60),
            ("hours", 3600),
            ("days", 86_400),
        ]
        .into_iter()
        .find(|(unit, _)| !period.is_empty() && unit.starts_with(&period))
        .map(|(_, seconds)| seconds)
        .ok_or_else(|| {
            format!(
                "invalid rate \"{rate}\": the period is second, minute, hour or day \
                     (e.g. \"100/minute\")"
            )
        })?;
        if requests == 0 {
            return Err(invalid());
        }
        Ok(Rate {
            requests,
            per: Duration::from_secs(seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_follow_drf() {
        use Permission::*;
        assert!(AllowAny.allows(false, false));
        assert!(ReadOnlyUnlessAuthenticated.allows(false, true));
        assert!(!ReadOnlyUnlessAuthenticated.allows(false, false));
        assert!(ReadOnlyUnlessAuthenticated.allows(true, false));
        assert!(!Authenticated.allows(false, true));
        assert!(Authenticated.allows(true, false));
        assert!(!AllowAny.requires_token(false) && Authenticated.requires_token(true));
    }

    #[test]
    fn keys_are_random_hashed_and_verified() {
        let (a, b) = (generate_key().unwrap(), generate_key().unwrap());
        assert_ne!(a.key, b.key);
        assert_eq!(key_prefix(&a.key), Some(a.prefix.as_str()));
        // SHA-256, hex: a stored hash stays valid across builds.
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(a.hash, hash_key(&a.key));
        assert!(verify_key(&a.key, &a.hash));
        assert!(!verify_key(&b.key, &a.hash));
        assert!(!a.hash.contains(&a.key) && !a.key.contains(&a.hash));
        assert_eq!(a.hash.len(), 64);
        for bad in ["", "nodot", "zz.secret", "0123456789ab.", "0123456789ab"] {
            assert_eq!(key_prefix(bad), None, "{bad}");
        }
    }

    #[test]
    fn rates_use_drf_syntax() {
        assert_eq!(
            "100/minute".parse(),
            Ok(Rate {
                requests: 100,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(
            "5/s".parse(),
            Ok(Rate {
                requests: 5,
                per: Duration::from_secs(1)
            })
        );
        assert_eq!(
            "1000/day".parse::<Rate>().unwrap().per,
            Duration::from_secs(86_400)
        );
        for good in [
            "1/sec",
            "1/Second",
            "1/min",
            "1/minutes",
            "1/h",
            "1/hours",
            "1/d",
            "1/ day",
        ] {
            assert!(good.parse::<Rate>().is_ok(), "{good}");
        }
        for bad in [
            "100",
            "x/minute",
            "0/minute",
            "10/fortnight",
            "10/",
            "10/month",
            "10/decade",
            "10/mins",
            "10/sx",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
