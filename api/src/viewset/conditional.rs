//! Conditional requests: strong ETags from the row version, `If-None-Match` on reads and
//! `If-Match` on writes (RFC 9110 section 13).

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};

/// The ETag of a row at `version`.
pub fn etag(version: i64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version);
    let mut tag = String::with_capacity(digits.len() + 2);
    tag.push('"');
    tag.push_str(digits);
    tag.push('"');
    tag
}

/// An ETag for a representation without a version: a hash of its bytes.
pub fn content_etag(body: &[u8]) -> String {
    format!("\"h{:016x}\"", fnv1a(body))
}

/// The ETag of a row at `version` shown with its relations expanded: `"7.h<hash>"`. The hash
/// changes when an expanded target does, so `If-None-Match` never keeps a stale target; the
/// version is what `If-Match` on a write compares, since a write changes only the row.
pub fn expanded_etag(version: i64, body: &[u8]) -> String {
    format!("\"{version}.h{:016x}\"", fnv1a(body))
}

/// FNV-1a: stable across processes and builds, unlike std's randomly keyed hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The row version an `If-Match` tag names: `"7"`, or `"7.h<hash>"` from an expanded read.
fn version_of(tag: &str) -> Option<i64> {
    let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
    let version = match inner.split_once('.') {
        Some((version, hash)) if is_content_hash(hash) => version,
        Some(_) => return None,
        None => inner,
    };
    // Digits only: `parse` would also take a sign.
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    version.parse().ok()
}

fn is_content_hash(text: &str) -> bool {
    text.len() == 17
        && text.starts_with('h')
        && text[1..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What `If-Match` asks of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: write unconditionally.
    None,
    /// `If-Match: *`: any existing row.
    Any,
    /// Only if the row is at one of these versions. Empty when no tag was one of ours, so
    /// the write can only fail (412, or 404 when the row is absent).
    Versions(Vec<i64>),
}

impl Precondition {
    /// An absent `If-Match` is no condition. An empty one lists no tag, so nothing matches
    /// it (RFC 9110): a script that sends `If-Match: $ETAG` with the variable unset gets a
    /// 412, not an unguarded write.
    pub fn from_request(request: &HttpRequest) -> Precondition {
        let mut values = request.headers().get_all(header::IF_MATCH).peekable();
        if values.peek().is_none() {
            return Precondition::None;
        }
        let tags: Vec<&str> = values.flat_map(tags).collect();
        if tags == ["*"] {
            return Precondition::Any;
        }
        let mut versions = Vec::new();
        // (`*` in a list is malformed, and matches nothing.)
        for tag in tags {
            // Strong comparison: weak tags never match.
            if let Some(version) = version_of(tag) {
                versions.push(version);
            }
        }
        Precondition::Versions(versions)
    }

    /// Whether a row at `version` meets it.
    pub fn admits(&self, version: i64) -> bool {
        match self {
            Precondition::Versions(versions) => versions.contains(&version),
            Precondition::None | Precondition::Any => true,
        }
    }

    /// The versions a compare-and-set must find, or `None` for an unconditional write.
    pub fn expected(&self) -> Option<&[i64]> {
        match self {
            Precondition::Versions(versions) => Some(versions),
            Precondition::None | Precondition::Any => None,
        }
    }
}

fn tags(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or("\u{0}")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Whether `If-Match` is sent and names neither `current` (strong comparison) nor, alone,
/// `*`: the request then gets 412 whatever its method (RFC 9110, section 13.1.1).
pub fn if_match_fails(request: &HttpRequest, current: &str) -> bool {
    let mut values = request.headers().get_all(header::IF_MATCH).peekable();
    if values.peek().is_none() {
        return false;
    }
    let tags: Vec<&str> = values.flat_map(tags).collect();
    tags != ["*"] && !tags.contains(&current)
}

/// Whether `If-None-Match` names the row at `version`, as a write compares it: weakly, and an
/// expanded tag by its version (as `If-Match` on a write reads it).
pub fn names_version(request: &HttpRequest, version: i64) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .flat_map(tags)
        .any(|tag| tag == "*" || version_of(tag.trim_start_matches("W/")) == Some(version))
}

/// Whether `If-None-Match` matches `current` (weak comparison), i.e. the client's copy is fresh.
pub fn not_modified(request: &HttpRequest, current: &str) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .flat_map(tags)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn precondition(value: &str) -> Precondition {
        Precondition::from_request(
            &TestRequest::default()
                .insert_header((header::IF_MATCH, value))
                .to_http_request(),
        )
    }

    #[test]
    fn if_match_parses_strong_version_tags_only() {
        assert_eq!(
            Precondition::from_request(&TestRequest::default().to_http_request()),
            Precondition::None
        );
        assert_eq!(precondition(" "), Precondition::Versions(vec![]));
        assert_eq!(precondition(""), Precondition::Versions(vec![]));
        assert_eq!(precondition("*"), Precondition::Any);
        assert_eq!(precondition("\"3\""), Precondition::Versions(vec![3]));
        assert_eq!(
            precondition("\"3\", \"5\""),
            Precondition::Versions(vec![3, 5])
        );
        // `*` in a list is malformed: it matches nothing, the list's tags still may.
        assert_eq!(precondition("*, \"9\""), Precondition::Versions(vec![9]));
        assert_eq!(precondition("\"9\", *"), Precondition::Versions(vec![9]));
        for bad in ["W/\"3\"", "3", "\"x\"", "\"\"", "garbage", "*, *", "\"+3\""] {
            assert_eq!(precondition(bad), Precondition::Versions(vec![]), "{bad}");
        }
    }

    /// The tag of an expanded read names the row's version for a write's `If-Match`.
    #[test]
    fn if_match_reads_the_version_of_an_expanded_tag() {
        let tag = expanded_etag(7, b"{}");
        assert!(tag.starts_with("\"7.h") && tag.len() == 21, "{tag}");
        assert_eq!(precondition(&tag), Precondition::Versions(vec![7]));
        assert!(precondition(&tag).admits(7) && !precondition(&tag).admits(8));
        assert!(Precondition::Any.admits(8) && Precondition::None.admits(8));
        assert!(!Precondition::Versions(vec![]).admits(7));
        assert_eq!(
            precondition(&format!("\"2\", {tag}")),
            Precondition::Versions(vec![2, 7])
        );
        for bad in [
            format!("W/{tag}"),
            "\"7.h0123456789abcdeg\"".to_string(),
            "\"7.h0123456789abcdef0\"".to_string(),
            "\"7.0123456789abcdef\"".to_string(),
            "\".h0123456789abcdef\"".to_string(),
            "\"7.\"".to_string(),
        ] {
            assert_eq!(precondition(&bad), Precondition::Versions(vec![]), "{bad}");
        }
        assert_ne!(expanded_etag(7, b"{}"), expanded_etag(7, b"[]"));
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let request = |value: &str| {
            TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, value))
                .to_http_request()
        };
        assert!(not_modified(&request("\"3\""), "\"3\""));
        assert!(not_modified(&request("W/\"3\""), "\"3\""));
        assert!(not_modified(&request("\"1\", \"3\""), "\"3\""));
        assert!(not_modified(&request("*"), "\"3\""));
        assert!(!not_modified(&request("\"4\""), "\"3\""));
        assert!(!not_modified(
            &TestRequest::default().to_http_request(),
            "\"3\""
        ));
        // A write compares versions: an expanded tag names its version.
        let expanded = expanded_etag(3, b"{}");
        assert!(names_version(&request(&expanded), 3));
        assert!(names_version(&request(&format!("W/{expanded}")), 3));
        assert!(names_version(&request("\"1\", W/\"3\""), 3));
        assert!(names_version(&request("*"), 3));
        assert!(!names_version(&request(&expanded), 4));
        assert!(!names_version(&request("\"3.hX\""), 3));
    }

    #[test]
    fn if_match_on_any_method_needs_the_current_tag_strongly() {
        let fails = |value: Option<&str>| {
            let mut request = TestRequest::default();
            if let Some(value) = value {
                request = request.insert_header((header::IF_MATCH, value));
            }
            if_match_fails(&request.to_http_request(), "\"3\"")
        };
        assert!(!fails(None));
        assert!(!fails(Some("\"3\"")));
        assert!(!fails(Some("\"1\", \"3\"")));
        assert!(!fails(Some("*")));
        for bad in ["\"4\"", "W/\"3\"", "*, \"1\"", "", "garbage"] {
            assert!(fails(Some(bad)), "{bad}");
        }
    }

    #[test]
    fn content_tags_are_stable() {
        // FNV-1a's published values: a tag a client cached stays valid across builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(content_etag(b"abc"), "\"he71fa2190541574b\"");
        assert_eq!(expanded_etag(7, b"abc"), "\"7.he71fa2190541574b\"");
        assert_ne!(content_etag(b"abc"), content_etag(b"abd"));
    }
}
