//! `Idempotency-Key` on POST: the first response for a key (scoped to the caller) is
//! stored; a retry with the same key and body (the same JSON: key order and spacing aside)
//! gets it again, marked `Idempotent-Replayed: true`, and creates nothing. The same key with
//! another body is 422; a retry while the first request is still running is 409. A first
//! attempt that failed with a 5xx is forgotten, so its retry runs again.

use actix_web::body::to_bytes;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use chrono::Duration;
use infrastructure::idempotency::{self, Claim, KeyRef, StoredResponse};
use sha2::{Digest, Sha256};

use super::Ctx;
use crate::error::{ApiError, ApiResult};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The key of the request, if it carries one; at most 255 visible ASCII characters, in one
/// header (two could each be read as the key by a proxy and by the service).
fn key(ctx: &Ctx<'_>) -> ApiResult<Option<String>> {
    let mut values = ctx.request.headers().get_all(&IDEMPOTENCY_KEY);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if values.next().is_some()
        || bytes.is_empty()
        || bytes.len() > 255
        || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be one header of 1 to 255 visible ASCII characters.".into(),
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Runs `create` at most once per key: see the module documentation.
pub async fn create_once(
    ctx: &Ctx<'_>,
    path: &str,
    body: &Bytes,
    create: impl AsyncFnOnce() -> ApiResult,
) -> ApiResult {
    let Some(key) = key(ctx)? else {
        return create().await;
    };
    let scope = ctx.principal.as_ref().map_or_else(
        || "anonymous".to_string(),
        |p| format!("token:{}", p.token_id),
    );
    // The same request is the same JSON, however it is spelled: key order and spacing do not
    // count (as Stripe compares a retry's parameters, not its bytes).
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .and_then(|value| serde_json::to_vec(&value))
        .unwrap_or_else(|_| body.to_vec());
    let mut digest = Sha256::new();
    digest.update(path.as_bytes());
    digest.update(b"\n");
    digest.update(&canonical);
    let fingerprint: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let timeout = Duration::from_std(ctx.state.request_timeout).unwrap_or(Duration::seconds(30));
    let key_ref = KeyRef {
        scope: &scope,
        key: &key,
        fingerprint: &fingerprint,
        ttl: Duration::from_std(ctx.state.idempotency_ttl).unwrap_or(Duration::days(1)),
        abandoned_after: timeout * 2,
    };
    let db = &ctx.state.db;
    match idempotency::claim(db, &key_ref).await? {
        Claim::Owner => {
            let (response, body) = create()
                .await
                .unwrap_or_else(|error| error.error_response())
                .into_parts();
            let body = to_bytes(body)
                .await
                .map_err(|_| ApiError::Internal("reading a response body".into()))?;
            let stored = store(&response, &body);
            if stored.status >= 500 {
                idempotency::release(db, &key_ref).await?;
            } else {
                idempotency::complete(db, &key_ref, &stored).await?;
            }
            // The first answer goes out as it was made, every header kept (a 503's
            // `Retry-After` among them); a replay has what was stored.
            Ok(response.set_body(body).map_into_boxed_body())
        }
        Claim::Replay(stored) => Ok(replay(stored)),
        Claim::InFlight => Err(ApiError::InProgress),
        Claim::Mismatch => Err(ApiError::Unprocessable(
            "This Idempotency-Key was already used with a different request.".into(),
        )),
    }
}

fn store(response: &HttpResponse<()>, body: &Bytes) -> StoredResponse {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    StoredResponse {
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(body).into_owned(),
        location: header(header::LOCATION),
        etag: header(header::ETAG),
    }
}

/// A stored first answer, again.
fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    for (name, value) in [
        (header::LOCATION, stored.location),
        (header::ETAG, stored.etag),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED, HeaderValue::from_static("true")));
    response.body(stored.body)
}
