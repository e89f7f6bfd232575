//! `/health/live`: the process answers. `/health/ready`: and so does the database.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
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

/// `/health/live` and `/health/ready`, GET and HEAD.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/health/live")
                .name("/health/live")
                .route(web::get().to(live))
                .route(web::head().to(live))
                .default_service(web::to(not_allowed)),
        )
        .service(
            web::resource("/health/ready")
                .name("/health/ready")
                .route(web::get().to(ready))
                .route(web::head().to(ready))
                .default_service(web::to(not_allowed)),
        );
}
