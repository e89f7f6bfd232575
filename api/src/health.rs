//! `/health/live`: the process answers. `/health/ready`: and so does the database, and the
//! process is not shutting down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::error::ApiError;
use crate::viewset::AppState;

pub struct Readiness {
    pub timeout: Duration,
    /// The database has every migration of this build (checked until it has).
    pub schema_current: AtomicBool,
}

/// Whether the database has every migration of this build; if not, says so in the log.
/// Unknown (the database not answering) counts as not yet.
pub async fn schema_current(db: &DatabaseConnection) -> bool {
    match migration::pending(db).await {
        Ok(pending) if pending.is_empty() => true,
        Ok(pending) => {
            tracing::error!(
                pending = pending.join(", "),
                "the database schema is behind this build: run the migrations (`migration up`); \
                 /health/ready answers 503 until they are applied"
            );
            false
        }
        Err(_) => false,
    }
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
        Ok(()) => {
            if !readiness.schema_current.load(Ordering::Relaxed) {
                let pending = migration::pending(state.db.shared());
                let current = tokio::time::timeout(readiness.timeout, pending)
                    .await
                    .is_ok_and(|pending| pending.is_ok_and(|pending| pending.is_empty()));
                if !current {
                    return HttpResponse::ServiceUnavailable().json(json!({
                        "status": "unavailable",
                        "database": "ok",
                        "detail": "The database schema is behind this build: run the migrations.",
                    }));
                }
                readiness.schema_current.store(true, Ordering::Relaxed);
            }
            HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"}))
        }
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
