//! Targets: `NAME=http://host:port[/prefix]`, the loopback rule, and the URL paths of the
//! /items/ contract.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetSpec {
    pub name: String,
    /// Normalised base URL, without a trailing slash.
    pub url: String,
    /// `host[:port]` as written: the Host header.
    #[serde(skip)]
    pub authority: String,
    /// Host without brackets or port.
    #[serde(skip)]
    pub host: String,
    #[serde(skip)]
    pub port: u16,
    /// Path the service is mounted under ("" for the root), without a trailing slash.
    #[serde(skip)]
    pub prefix: String,
}

impl TargetSpec {
    /// `NAME=URL`, or a bare URL named after its `host:port`.
    pub fn parse(s: &str) -> Result<TargetSpec, String> {
        let s = s.trim();
        let (name, url) =
            if s.contains("://") && s.split("://").next().is_some_and(|p| !p.contains('=')) {
                (None, s)
            } else {
                let (n, u) = s.split_once('=').ok_or("expected NAME=URL or a URL")?;
                (Some(n.trim()), u.trim())
            };
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err("https is not supported: targets are plain http".into());
            }
            _ => return Err(format!("{url:?}: the URL must start with http://")),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(format!("{url:?}: the base URL takes no query or fragment"));
        }
        let (host, port) = split_authority(authority)?;
        let prefix = path.trim_end_matches('/').to_string();
        let name = match name {
            Some("") => return Err("empty target name".into()),
            Some(n) => n.to_string(),
            None => authority.to_string(),
        };
        Ok(TargetSpec {
            name,
            url: format!("http://{authority}{prefix}"),
            authority: authority.to_string(),
            host,
            port,
            prefix,
        })
    }

    /// Refuses anything but 127.0.0.0/8, ::1 and localhost: this tool generates heavy load
    /// and must not be pointed at somebody else's machine by accident.
    pub fn check_loopback(&self) -> Result<(), String> {
        let ok = match self.host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => self.host.eq_ignore_ascii_case("localhost"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "target {} ({}) is not a loopback address; pass --allow-remote if you mean it",
                self.name, self.host
            ))
        }
    }

    /// The socket address to connect to. Names resolving outside loopback are refused
    /// unless `allow_remote` (an /etc/hosts entry could point "localhost" elsewhere).
    pub fn resolve(&self, allow_remote: bool) -> Result<SocketAddr, String> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("target {}: cannot resolve {}: {e}", self.name, self.host))?
            .collect();
        let pick = if allow_remote {
            addrs.first()
        } else {
            addrs.iter().find(|a| a.ip().is_loopback())
        };
        pick.copied().ok_or_else(|| {
            format!(
                "target {}: {} resolves to no loopback address",
                self.name, self.host
            )
        })
    }
}

fn split_authority(authority: &str) -> Result<(String, u16), String> {
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("bad host {authority:?}"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or(format!("bad host {authority:?}"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port in {authority:?}"))?,
    };
    if host.is_empty() {
        return Err(format!("bad host {authority:?}"));
    }
    Ok((host.to_string(), port))
}

/// The request paths of the /items/ contract for one target.
#[derive(Debug, Clone)]
pub struct Paths {
    prefix: String,
    slash: &'static str,
    list: String,
}

impl Paths {
    pub fn new(spec: &TargetSpec, trailing_slash: bool, list_query: &str) -> Paths {
        Paths {
            prefix: spec.prefix.clone(),
            slash: if trailing_slash { "/" } else { "" },
            list: format!("{}/items/{list_query}", spec.prefix),
        }
    }

    /// POST target.
    pub fn collection(&self) -> String {
        format!("{}/items/", self.prefix)
    }

    /// GET target for list requests, with the --list-query.
    pub fn list(&self) -> &str {
        &self.list
    }

    pub fn item(&self, id: i64) -> String {
        format!("{}/items/{id}{}", self.prefix, self.slash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_hosts_and_prefixes() {
        let t = TargetSpec::parse("api=http://127.0.0.1:8000/").unwrap();
        assert_eq!(
            (t.name.as_str(), t.host.as_str(), t.port, t.prefix.as_str()),
            ("api", "127.0.0.1", 8000, "")
        );
        assert_eq!(t.url, "http://127.0.0.1:8000");

        let t = TargetSpec::parse("http://localhost:9/v1/").unwrap();
        assert_eq!(
            (t.name.as_str(), t.prefix.as_str(), t.authority.as_str()),
            ("localhost:9", "/v1", "localhost:9")
        );

        let t = TargetSpec::parse("six=http://[::1]:81").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 81));
        let t = TargetSpec::parse("http://127.0.0.2").unwrap();
        assert_eq!(t.port, 80);

        for bad in [
            "api=",
            "api=ftp://x",
            "http://127.0.0.1:x",
            "a=http://:80",
            "a=http://h/?q=1",
        ] {
            assert!(TargetSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_rule() {
        for ok in [
            "http://127.0.0.1",
            "http://127.9.8.7:1",
            "http://[::1]:2",
            "http://LOCALHOST",
        ] {
            assert!(
                TargetSpec::parse(ok).unwrap().check_loopback().is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://10.0.0.1",
            "http://192.168.1.1",
            "http://[::2]",
            "http://example.com",
            "http://0.0.0.0",
        ] {
            assert!(
                TargetSpec::parse(bad).unwrap().check_loopback().is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths() {
        let t = TargetSpec::parse("a=http://127.0.0.1:1/api").unwrap();
        let p = Paths::new(&t, true, "?page_size=5");
        assert_eq!(p.collection(), "/api/items/");
        assert_eq!(p.item(7), "/api/items/7/");
        assert_eq!(p.list(), "/api/items/?page_size=5");
        let p = Paths::new(&TargetSpec::parse("http://127.0.0.1").unwrap(), false, "");
        assert_eq!(p.item(7), "/items/7");
    }
}
