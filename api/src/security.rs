//! DRF's authentication, permissions and throttling, applied by the viewset to every action
//! in DRF's order: who is calling, may they do this, are they within their rate.

mod network;
mod throttle;

pub use network::{AllowedHosts, TrustedProxies, check_host};
pub use throttle::{Throttle, check_redis};

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
    let value = value.to_str().map_err(|_| {
        ApiError::AuthenticationFailed(
            "Invalid token header. Token string should not contain invalid characters.",
        )
    })?;
    let mut parts = value.split_whitespace();
    let scheme = parts.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("token") && !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, say) is not ours to judge: the request is anonymous.
        return Ok(None);
    }
    // DRF's texts.
    let key = match (parts.next(), parts.next()) {
        (Some(key), None) => key,
        (None, _) => {
            return Err(ApiError::AuthenticationFailed(
                "Invalid token header. No credentials provided.",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::AuthenticationFailed(
                "Invalid token header. Token string should not contain spaces.",
            ));
        }
    };
    match infrastructure::tokens::authenticate(db, key).await? {
        Some(principal) => Ok(Some(principal)),
        None => Err(ApiError::AuthenticationFailed("Invalid token.")),
    }
}
