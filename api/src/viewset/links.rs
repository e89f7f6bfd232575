//! Absolute URLs for `Location`, `next` and `previous`, built from the request's own scheme
//! and host (from `X-Forwarded-*` only when configured to trust a proxy).

use actix_web::HttpRequest;
use actix_web::http::header;

use super::Ctx;

/// `scheme://host` of the request.
pub fn origin(ctx: &Ctx<'_>) -> String {
    let request = ctx.request;
    if ctx.state.trust_forwarded_headers {
        let info = request.connection_info();
        return format!("{}://{}", info.scheme(), info.host());
    }
    let scheme = if request.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .filter(|host| plausible_host(host))
        .map(str::to_string)
        .unwrap_or_else(|| request.app_config().local_addr().to_string());
    format!("{scheme}://{host}")
}

fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

/// The URL of the row `id`, in the request's trailing-slash style.
pub fn detail_url(ctx: &Ctx<'_>, path: &str, id: impl std::fmt::Display) -> String {
    let slash = if ctx.request.path().ends_with('/') {
        "/"
    } else {
        ""
    };
    format!("{}/{}/{id}{slash}", origin(ctx), path.trim_matches('/'))
}

/// This request's URL with `changes` applied to its query: `Some` sets, `None` removes.
pub fn with_query(
    request: &HttpRequest,
    origin: &str,
    changes: &[(&str, Option<String>)],
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        if !changes.iter().any(|(name, _)| *name == key) {
            query.append_pair(&key, &value);
        }
    }
    for (name, value) in changes {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    let separator = if query.is_empty() { "" } else { "?" };
    format!("{origin}{}{separator}{query}", request.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn replaces_and_removes_query_parameters_keeping_the_rest() {
        let request =
            TestRequest::with_uri("/items/?page=2&search=a%20b&page_size=10").to_http_request();
        let url = with_query(&request, "http://h", &[("page", Some("3".into()))]);
        assert_eq!(url, "http://h/items/?search=a+b&page_size=10&page=3");
        let url = with_query(
            &request,
            "http://h",
            &[("page", None), ("page_size", None), ("search", None)],
        );
        assert_eq!(url, "http://h/items/");
    }

    #[test]
    fn hosts_with_odd_characters_are_not_trusted() {
        assert!(plausible_host("localhost:8000") && plausible_host("[::1]:80"));
        assert!(!plausible_host("evil.com/path") && !plausible_host("a b") && !plausible_host(""));
    }
}
