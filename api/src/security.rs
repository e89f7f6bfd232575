//! DRF's authentication, permissions and throttling, applied by the viewset to every action
//! in DRF's order: who is calling, may they do this, are they within their rate.

mod throttle;

pub use throttle::Throttle;

use actix_web::HttpRequest;
use actix_web::http::header;
use domain::auth::Principal;
use infrastructure::database::Db;

use crate::error::{ApiError, ApiResult};

/// The caller behind `Authorization: Token <key>` or `Bearer <key>`; `None` without the
/// header. A malformed header, an unknown key or a revoked one is a 401, whatever the
/// resource's policy (as in DRF).
pub async fn authenticate(request: &HttpRequest, db: &Db) -> ApiResult<Option<Principal>> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::AuthenticationFailed("Invalid token header."))?;
    let mut parts = value.split_whitespace();
    let scheme = parts.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("token") && !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, say) is not ours to judge: the request is anonymous.
        return Ok(None);
    }
    let (Some(key), None) = (parts.next(), parts.next()) else {
        return Err(ApiError::AuthenticationFailed(
            "Invalid token header. Token string should be one value without spaces.",
        ));
    };
    match infrastructure::tokens::authenticate(db, key).await? {
        Some(principal) => Ok(Some(principal)),
        None => Err(ApiError::AuthenticationFailed("Invalid token.")),
    }
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop behind a trusted proxy.
pub fn client_ip(request: &HttpRequest, trust_forwarded_headers: bool) -> String {
    if trust_forwarded_headers && let Some(ip) = request.connection_info().realip_remote_addr() {
        return ip.to_string();
    }
    request
        .peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn forwarded_addresses_count_only_when_trusted() {
        let request = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9"))
            .to_http_request();
        assert_eq!(client_ip(&request, false), "10.0.0.1");
        assert_eq!(client_ip(&request, true), "203.0.113.9");
    }
}
