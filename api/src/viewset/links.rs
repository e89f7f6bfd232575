//! Absolute URLs for `Location`, `next` and `previous`, built from the request's own scheme
//! and host: `X-Forwarded-Proto`/`-Host` only from a trusted proxy (`server.trusted_proxies`),
//! and only a host in `server.allowed_hosts` (any other request was refused with a 400
//! before it got here).

use actix_web::HttpRequest;

use super::Ctx;

/// `scheme://host` of the request.
pub fn origin(ctx: &Ctx<'_>) -> String {
    let request = ctx.request;
    let proxies = &ctx.state.proxies;
    let scheme = proxies.scheme(request);
    // `check_host` refused any other host already; asked again so that no link can carry
    // one whatever a later route is exempt from.
    match proxies.host(request) {
        Some(host) if ctx.state.allowed_hosts.allows(host) => format!("{scheme}://{host}"),
        _ => format!("{scheme}://{}", request.app_config().local_addr()),
    }
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
}
