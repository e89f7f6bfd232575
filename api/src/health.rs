//! `/health/live`: the process answers. `/health/ready`: and so does the database.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::viewset::AppState;

pub struct Readiness {
    pub timeout: Duration,
}

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn ready(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    match infrastructure::database::ping(&state.db, readiness.timeout).await {
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
