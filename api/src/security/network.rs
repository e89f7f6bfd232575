//! Who is calling, and under which name: `server.trusted_proxies` decides whether the
//! `X-Forwarded-*` headers count, `server.allowed_hosts` (Django's `ALLOWED_HOSTS`) which
//! `Host` a request may name. Both are a few comparisons per request.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use ipnet::IpNet;

use crate::error::ApiError;
use crate::viewset::AppState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The networks of the proxies in front of the service (`server.trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses; empty entries are skipped.
    pub fn new(entries: &[String]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let network = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(|ip| IpNet::from(canonical(ip))))
                .map_err(|_| {
                    format!(
                        "server.trusted_proxies: \"{entry}\" is not an IP network (e.g. 10.0.0.0/8, 192.168.1.5, fd00::/8)"
                    )
                })?;
            // (as Python's `ip_network`: `10.0.0.5/8` is a typo for an address or a network)
            if network != network.trunc() {
                return Err(format!(
                    "server.trusted_proxies: \"{entry}\" has host bits set (the network is {})",
                    network.trunc()
                ));
            }
            networks.push(network);
        }
        Ok(TrustedProxies(networks))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the request comes straight from a trusted proxy.
    fn peer_trusted(&self, request: &HttpRequest) -> bool {
        !self.0.is_empty()
            && request
                .peer_addr()
                .is_some_and(|peer| self.trusts(canonical(peer.ip())))
    }

    /// The client's address: the peer's; behind a trusted proxy, the rightmost
    /// `X-Forwarded-For` address that is not a trusted proxy (the leftmost ones are the
    /// client's to write). An entry that is not an address ends the walk at the hop that
    /// forwarded it.
    pub fn client_ip(&self, request: &HttpRequest) -> IpAddr {
        let peer = request
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| {
                canonical(peer.ip())
            });
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let values = request
            .headers()
            .get_all(X_FORWARDED_FOR)
            .collect::<Vec<_>>();
        for value in values.iter().rev() {
            let Ok(value) = value.to_str() else {
                return client;
            };
            for hop in value.rsplit(',') {
                let Some(ip) = parse_hop(hop.trim()) else {
                    return client;
                };
                client = ip;
                if !self.trusts(ip) {
                    return ip;
                }
            }
        }
        client
    }

    /// The last value of a `X-Forwarded-*` header, when the peer is a trusted proxy.
    fn forwarded<'r>(&self, request: &'r HttpRequest, name: &HeaderName) -> Option<&'r str> {
        if !self.peer_trusted(request) {
            return None;
        }
        let value = request.headers().get_all(name).last()?.to_str().ok()?;
        let last = value.rsplit(',').next()?.trim();
        (!last.is_empty()).then_some(last)
    }

    /// `http` or `https`: `X-Forwarded-Proto` from a trusted proxy, else the connection's.
    pub fn scheme(&self, request: &HttpRequest) -> &'static str {
        match self.forwarded(request, &X_FORWARDED_PROTO) {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
            _ if request.app_config().secure() => "https",
            _ => "http",
        }
    }

    /// The host the client asked for: `X-Forwarded-Host` from a trusted proxy, else `Host`
    /// (or the request target's authority).
    pub fn host<'r>(&self, request: &'r HttpRequest) -> Option<&'r str> {
        self.forwarded(request, &X_FORWARDED_HOST).or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| request.uri().authority().map(|a| a.as_str()))
        })
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`, so IPv4 networks match on dual-stack sockets.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// The host names the service answers to (`server.allowed_hosts`), Django's rules: `*` is
/// any; `.example.com` is example.com and its subdomains; otherwise an exact name or address,
/// compared without the port and case-insensitively.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    any: bool,
    patterns: Vec<String>,
}

impl AllowedHosts {
    pub fn new(entries: &[String]) -> Result<AllowedHosts, String> {
        let mut patterns = Vec::new();
        let mut any = false;
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry == "*" {
                any = true;
                continue;
            }
            let pattern = entry.to_ascii_lowercase();
            let name = pattern.strip_prefix('.').unwrap_or(&pattern);
            if split_host(name).is_none_or(|(domain, port)| domain != name || port) {
                return Err(format!(
                    "server.allowed_hosts: \"{entry}\" is not a host name without a port (e.g. api.example.com, .example.com, 127.0.0.1, [::1], *)"
                ));
            }
            patterns.push(pattern);
        }
        if !any && patterns.is_empty() {
            return Err(
                "server.allowed_hosts: empty; list the host names the service answers to, or \"*\""
                    .into(),
            );
        }
        Ok(AllowedHosts { any, patterns })
    }

    /// Whether `host` (a `Host` header value: name or address, optional port) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let Some((domain, _)) = split_host(host) else {
            return false;
        };
        if self.any {
            return true;
        }
        let domain = domain.to_ascii_lowercase();
        let domain = domain.strip_suffix('.').unwrap_or(&domain);
        self.patterns
            .iter()
            .any(|pattern| match pattern.strip_prefix('.') {
                Some(parent) => domain == parent || domain.ends_with(pattern.as_str()),
                None => domain == pattern,
            })
    }
}

/// `(domain, has_port)` of a syntactically valid host: letters, digits, `.`, `-`, `_`, or an
/// IPv6 literal in brackets, then an optional `:port`.
fn split_host(host: &str) -> Option<(&str, bool)> {
    let (domain, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let (domain, rest) = host.split_at(end + 1);
        let valid = domain[1..end]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            && domain.contains(':');
        if !valid {
            return None;
        }
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':')?),
        };
        (domain, port)
    } else {
        match host.rsplit_once(':') {
            Some((domain, port)) => (domain, Some(port)),
            None => (host, None),
        }
    };
    // (a name's labels are never empty: `.`, `a..b` or `.a` name no host; one trailing dot is
    // the root's)
    let labels = domain.strip_suffix('.').unwrap_or(domain);
    let valid_domain = domain.starts_with('[')
        || (!labels.is_empty()
            && domain.len() <= 253
            && labels.split('.').all(|label| !label.is_empty())
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    let valid_port = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|port| port > 0)
    });
    (valid_domain && valid_port).then_some((domain, port.is_some()))
}

/// Answers 400 `{"detail": "Invalid Host header."}` to a request for a host that is not
/// allowed. The health checks and `/metrics` are exempt: orchestrators and Prometheus
/// address the container by its IP.
pub async fn check_host(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let path = request.path();
    let exempt = path.starts_with("/health/") || path == "/metrics";
    let allowed = exempt
        || request
            .app_data::<web::Data<AppState>>()
            .is_none_or(|state| {
                state
                    .proxies
                    .host(request.request())
                    .is_some_and(|host| state.allowed_hosts.allows(host))
            });
    if allowed {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let response = ApiError::BadRequest("Invalid Host header.".into()).error_response();
    Ok(request.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn request(peer: &str, forwarded_for: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(value) = forwarded_for {
            request = request.insert_header(("x-forwarded-for", value));
        }
        request.to_http_request()
    }

    #[test]
    fn proxy_entries_are_networks_or_addresses_as_written() {
        let error = TrustedProxies::new(&strings(&["127.0.0.5/8"])).unwrap_err();
        assert!(
            error.contains("host bits") && error.contains("127.0.0.0/8"),
            "{error}"
        );
        let mapped = TrustedProxies::new(&strings(&["::ffff:127.0.0.1"])).unwrap();
        assert!(
            mapped.trusts("127.0.0.1".parse().unwrap()),
            "an IPv4-mapped entry is IPv4"
        );
        let network = TrustedProxies::new(&strings(&["10.0.0.0/8", "fd00::/8"])).unwrap();
        assert!(network.trusts("10.1.2.3".parse().unwrap()));
        assert!(network.trusts("fd00::1".parse().unwrap()));
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_address() {
        let proxies = TrustedProxies::new(&strings(&["10.0.0.0/8", "192.168.1.5", ""])).unwrap();
        let ip = |peer, xff| proxies.client_ip(&request(peer, xff)).to_string();
        assert_eq!(
            ip("10.0.0.1:5000", Some("1.1.1.1, 203.0.113.7")),
            "203.0.113.7"
        );
        assert_eq!(
            ip(
                "10.0.0.1:5000",
                Some("1.1.1.1, 203.0.113.7, 10.2.3.4, 192.168.1.5")
            ),
            "203.0.113.7",
            "trusted hops are skipped"
        );
        assert_eq!(ip("10.0.0.1:5000", None), "10.0.0.1");
        assert_eq!(
            ip("10.0.0.1:5000", Some("10.9.9.9")),
            "10.9.9.9",
            "all trusted"
        );
        assert_eq!(ip("10.0.0.1:5000", Some("garbage, 10.9.9.9")), "10.9.9.9");
        assert_eq!(
            ip("10.0.0.1:5000", Some("1.1.1.1, [2001:db8::1]:443")),
            "2001:db8::1"
        );
        assert_eq!(
            ip("203.0.113.9:5000", Some("1.1.1.1")),
            "203.0.113.9",
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            ip("[::ffff:10.0.0.1]:5000", Some("203.0.113.7")),
            "203.0.113.7"
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(&request("10.0.0.1:1", Some("1.1.1.1")))
                .to_string(),
            "10.0.0.1"
        );
        let error = TrustedProxies::new(&strings(&["10.0.0.0/33"])).unwrap_err();
        assert!(error.starts_with("server.trusted_proxies:"), "{error}");
        assert!(TrustedProxies::new(&strings(&["proxy.local"])).is_err());
    }

    #[test]
    fn forwarded_host_and_proto_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::new(&strings(&["127.0.0.1"])).unwrap();
        let build = |peer: &str| {
            TestRequest::default()
                .peer_addr(peer.parse().unwrap())
                .insert_header(("host", "internal:8000"))
                .insert_header(("x-forwarded-host", "api.example.com"))
                .insert_header(("x-forwarded-proto", "https"))
                .to_http_request()
        };
        let trusted = build("127.0.0.1:1");
        assert_eq!(proxies.host(&trusted), Some("api.example.com"));
        assert_eq!(proxies.scheme(&trusted), "https");
        let direct = build("203.0.113.1:1");
        assert_eq!(proxies.host(&direct), Some("internal:8000"));
        assert_eq!(proxies.scheme(&direct), "http");
    }

    #[test]
    fn hosts_follow_djangos_rules() {
        let hosts = AllowedHosts::new(&strings(&[
            "API.example.com",
            ".example.org",
            "127.0.0.1",
            "[::1]",
        ]))
        .unwrap();
        for ok in [
            "api.example.com",
            "API.EXAMPLE.COM:8443",
            "api.example.com.",
            "example.org",
            "a.b.example.org:80",
            "127.0.0.1:8000",
            "[::1]",
            "[::1]:8000",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "badexample.org",
            "example.com",
            "api.example.com:x",
            "api.example.com/x",
            "api.example.com@evil.com",
            "",
            "[::2]",
            "[::1",
            "api.example.com:99999",
            "api.example.com:0",
            "[::1]:65536",
            "api.example.com:+80",
            ".example.org",
            "a..example.org",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        let any = AllowedHosts::new(&strings(&["*"])).unwrap();
        assert!(any.allows("whatever.example:1") && !any.allows("a b"));
        for bad in [".", "..", ".:80", "a..b"] {
            assert!(!any.allows(bad), "{bad}");
        }
        for bad in [
            &[][..],
            &[""],
            &["host:8000"],
            &["a/b"],
            &[".."],
            &["a..b"],
            &["."],
        ] {
            let error = AllowedHosts::new(&strings(bad)).unwrap_err();
            assert!(error.starts_with("server.allowed_hosts:"), "{error}");
        }
    }
}
