//! The one error type of the HTTP layer. Every failure a request can meet becomes an
//! [`ApiError`], answered as JSON in Django REST Framework's shapes; 5xx bodies say nothing
//! about internals, which go to the log instead.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::FieldErrors;
use infrastructure::PersistenceError;
use serde_json::json;

pub type ApiResult<T = HttpResponse> = Result<T, ApiError>;

/// The schemes a 401 invites the client to use.
pub const WWW_AUTHENTICATE: &str = "Token realm=\"api\", Bearer realm=\"api\"";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    /// A page number past the last page (DRF).
    #[error("invalid page")]
    InvalidPage,
    /// Field (or query parameter) errors: `{"field": ["message"]}`.
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    /// A request-wide problem: `{"detail": "..."}`.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// A body with a content coding (compressed): it is not decoded.
    #[error("unsupported content encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("precondition failed")]
    PreconditionFailed,
    /// No credentials where the policy needs them (401).
    #[error("not authenticated")]
    NotAuthenticated,
    /// Credentials that are malformed, unknown or revoked (401).
    #[error("authentication failed: {0}")]
    AuthenticationFailed(&'static str),
    /// Authenticated, but not allowed (403).
    #[error("permission denied")]
    PermissionDenied,
    #[error("throttled for {wait_secs} s")]
    Throttled { wait_secs: u64 },
    /// Well-formed, but cannot be processed (422).
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// The request ran past `server.request_timeout_ms`; `write_sent`: after sending a write
    /// the database does not bound, which may still be applied.
    #[error("request timed out")]
    Timeout { write_sent: bool },
    /// The request's body did not arrive within `server.request_timeout_ms` (408).
    #[error("request body timed out")]
    BodyTimeout,
    #[error("method {method} not allowed")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("conflict: {0}")]
    Conflict(String),
    /// The first request with this `Idempotency-Key` is still running (409, `Retry-After`).
    #[error("idempotency key in use")]
    InProgress,
    /// A foreign key refused a write: the row refers to a missing one, or others refer to
    /// it. The generic layer turns it into a field error or the on-delete 409 where it
    /// knows the relation; otherwise a 409. Holds the cause, for the log.
    #[error("foreign key: {0}")]
    Referenced(String),
    /// A unique index refused a write; holds the index the database names (for the log, and
    /// for `viewset::unique`, which turns it into a 400 on the resource's unique field).
    /// Otherwise a 409, saying nothing of the index.
    #[error("unique violation: {0}")]
    Unique(String),
    /// The throttle's shared store (Redis) failed and `throttle.fail_open` is off; the
    /// throttle logs the cause.
    #[error("throttle store unavailable")]
    ThrottleUnavailable,
    /// The database is unreachable or busy; the cause goes to the log.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The database cancelled a statement at `database.statement_timeout_ms` (503); the
    /// cause goes to the log.
    #[error("statement timed out: {0}")]
    DatabaseTimeout(String),
    /// The database lacks a table or column this build uses: its migrations are pending
    /// (503, as readiness says; the cause goes to the log).
    #[error("schema behind this build: {0}")]
    SchemaBehind(String),
    /// A bug or an unexpected database answer; the cause goes to the log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<PersistenceError> for ApiError {
    fn from(error: PersistenceError) -> Self {
        match error {
            PersistenceError::NotFound => ApiError::NotFound,
            PersistenceError::Conflict(violated) => ApiError::Unique(violated),
            PersistenceError::Referenced(cause) => ApiError::Referenced(cause),
            PersistenceError::Unavailable(cause) => ApiError::Unavailable(cause),
            PersistenceError::TimedOut(cause) => ApiError::DatabaseTimeout(cause),
            PersistenceError::SchemaBehind(cause) => ApiError::SchemaBehind(cause),
            PersistenceError::Unexpected(cause) | PersistenceError::Connect(cause) => {
                ApiError::Internal(cause)
            }
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Validation(errors)
    }
}

impl ApiError {
    fn detail(&self) -> String {
        match self {
            ApiError::NotFound => "Not found.".into(),
            ApiError::InvalidPage => "Invalid page.".into(),
            ApiError::Validation(_) => "Invalid input.".into(),
            ApiError::BadRequest(detail) | ApiError::Conflict(detail) => detail.clone(),
            ApiError::Unique(_) => "A conflicting resource already exists.".into(),
            ApiError::Referenced(_) => {
                "Cannot delete or change this row: other rows refer to it.".into()
            }
            ApiError::UnsupportedMediaType(media) => {
                format!("Unsupported media type \"{media}\" in request.")
            }
            ApiError::UnsupportedEncoding(coding) => {
                format!(
                    "Unsupported content encoding \"{coding}\" in request: send the body unencoded."
                )
            }
            ApiError::PayloadTooLarge(limit) => {
                format!("Request body is larger than the limit of {limit} bytes.")
            }
            ApiError::PreconditionFailed => {
                "Precondition failed: the resource has changed, or If-Match or If-None-Match \
                 does not hold for its current version."
                    .into()
            }
            ApiError::MethodNotAllowed { method, .. } => {
                format!("Method \"{method}\" not allowed.")
            }
            ApiError::NotAuthenticated => "Authentication credentials were not provided.".into(),
            ApiError::AuthenticationFailed(detail) => (*detail).into(),
            ApiError::PermissionDenied => {
                "You do not have permission to perform this action.".into()
            }
            ApiError::Throttled { wait_secs } => {
                let plural = if *wait_secs == 1 { "" } else { "s" };
                format!("Request was throttled. Expected available in {wait_secs} second{plural}.")
            }
            ApiError::Unprocessable(detail) => detail.clone(),
            ApiError::Timeout { write_sent: false } => {
                "The request took too long to process; try again later.".into()
            }
            ApiError::Timeout { write_sent: true } => {
                "The request took too long to process; its change may still be applied.".into()
            }
            ApiError::BodyTimeout => "The request body did not arrive in time.".into(),
            ApiError::InProgress => {
                "A request with this Idempotency-Key is still being processed; retry later.".into()
            }
            ApiError::DatabaseTimeout(_) => "The database took too long to answer.".into(),
            ApiError::Unavailable(_)
            | ApiError::ThrottleUnavailable
            | ApiError::SchemaBehind(_) => {
                "The service is temporarily unavailable; try again later.".into()
            }
            ApiError::Internal(_) => "A server error occurred.".into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::InvalidPage => StatusCode::NOT_FOUND,
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::NotAuthenticated | ApiError::AuthenticationFailed(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::PermissionDenied => StatusCode::FORBIDDEN,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_)
            | ApiError::InProgress
            | ApiError::Unique(_)
            | ApiError::Referenced(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_)
            | ApiError::DatabaseTimeout(_)
            | ApiError::SchemaBehind(_)
            | ApiError::ThrottleUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "database unavailable")
            }
            ApiError::DatabaseTimeout(cause) => {
                tracing::warn!(error.cause = %cause, "statement timed out")
            }
            ApiError::SchemaBehind(cause) => tracing::error!(
                error.cause = %cause,
                "the database schema is behind this build: run the migrations"
            ),
            ApiError::Internal(cause) => tracing::error!(error.cause = %cause, "internal error"),
            ApiError::Timeout { write_sent } => {
                tracing::warn!(write_sent, "request timed out")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            ApiError::Unavailable(_)
            | ApiError::DatabaseTimeout(_)
            | ApiError::SchemaBehind(_)
            | ApiError::Timeout { write_sent: false }
            | ApiError::InProgress
            | ApiError::ThrottleUnavailable => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            // (RFC 9110: a 408 closes the connection, whose body is still owed)
            ApiError::BodyTimeout => {
                response.force_close();
            }
            // (RFC 9110: the codings it takes)
            ApiError::UnsupportedEncoding(_) => {
                response.insert_header((
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_static("identity"),
                ));
            }
            ApiError::NotAuthenticated | ApiError::AuthenticationFailed(_) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(WWW_AUTHENTICATE),
                ));
            }
            ApiError::Throttled { wait_secs } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*wait_secs)));
            }
            _ => {}
        }
        match self {
            ApiError::Validation(errors) => response.json(errors),
            other => response.json(json!({ "detail": other.detail() })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(error: ApiError) -> (u16, serde_json::Value) {
        let response = error.error_response();
        let status = response.status().as_u16();
        let bytes = to_bytes(response.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[actix_web::test]
    async fn server_errors_hide_their_cause() {
        let (status, body) = body_of(ApiError::Internal(
            "SELECT * FROM secret: syntax error".into(),
        ))
        .await;
        assert_eq!(status, 500);
        assert_eq!(body, json!({"detail": "A server error occurred."}));
        let (status, body) =
            body_of(PersistenceError::Unavailable("pool timed out".into()).into()).await;
        assert_eq!(status, 503);
        assert!(!body.to_string().contains("pool"));
        let (status, body) = body_of(
            PersistenceError::TimedOut(
                "error returned from database: canceling statement due to statement timeout".into(),
            )
            .into(),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                503,
                json!({"detail": "The database took too long to answer."})
            )
        );
    }

    #[actix_web::test]
    async fn unique_violations_do_not_name_the_index() {
        let (status, body) =
            body_of(PersistenceError::Conflict("idx_secret_name".into()).into()).await;
        assert_eq!(
            (status, body),
            (
                409,
                json!({"detail": "A conflicting resource already exists."})
            )
        );
    }

    #[actix_web::test]
    async fn validation_errors_are_keyed_by_field() {
        let (status, body) =
            body_of(FieldErrors::single("name", "This field is required.").into()).await;
        assert_eq!(
            (status, body),
            (400, json!({"name": ["This field is required."]}))
        );
    }
}
