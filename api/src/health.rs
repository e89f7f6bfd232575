//! `/health/live`: the process answers. `/health/ready`: and so does the database, and the
//! process is not shutting down.

use std::time::Duration;

use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};
use serde_json::json;

use crate::error::ApiError;
use crate::viewset::AppState;

pub struct Readiness {
    pub timeout: Duration,
}

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn ready(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    if crate::startup::shutting_down() {
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "shutting_down",
            "detail": "The server is shutting down.",
        }));
    }
    match infrastructure::database::ping(state.db.shared(), readiness.timeout).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable",
                "database": "unavailable",
                "detail": "The database is not answering.",
            }))
        }
    }
}

/// Any other method on a health route.
pub async fn not_allowed(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        allow: "GET, HEAD",
    })
}

/// A route of the service's own (health, metrics, documentation): GET, HEAD (the same
/// answer without its body) and 405 with `Allow` for any other method.
pub fn get_and_head<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .name(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(not_allowed))
}

/// `/health/live` and `/health/ready`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(get_and_head("/health/live", live))
        .service(get_and_head("/health/ready", ready));
}
