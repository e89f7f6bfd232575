//! Prometheus metrics at `/metrics`: requests by route and status, their latency, requests in
//! flight, the database pool, throttle store failures, and build information. Routes are the registered patterns
//! (`/items/{id}`), never raw paths, so the number of series stays bounded.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};

use actix_web::{HttpResponse, web};
use infrastructure::database::PoolStats;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use sea_orm::{DatabaseConnection, DbBackend};

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    pool: IntGaugeVec,
    dropped_log_lines: IntCounter,
    throttle_store_errors: IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "http_requests_total",
            "HTTP requests answered, by method, route and status.",
        ),
        &["method", "route", "status"],
    )
    .expect("valid metric");
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method, route and status.",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["method", "route", "status"],
    )
    .expect("valid metric");
    let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being answered.")
        .expect("valid metric");
    let pool = IntGaugeVec::new(
        Opts::new(
            "db_pool_connections",
            "Database connections by state: max, open, idle, waiting (requests waiting for one).",
        ),
        &["state"],
    )
    .expect("valid metric");
    let dropped_log_lines = IntCounter::new(
        "log_lines_dropped_total",
        "Log lines dropped because the log writer fell behind.",
    )
    .expect("valid metric");
    let throttle_store_errors = IntCounter::new(
        "throttle_store_errors_total",
        "Requests whose rate could not be checked because the throttle store (Redis) failed or \
         did not answer in time.",
    )
    .expect("valid metric");
    let build = IntGaugeVec::new(
        Opts::new("build_info", "Version of the running service."),
        &["version"],
    )
    .expect("valid metric");
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    for collector in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(latency.clone()),
        Box::new(in_flight.clone()),
        Box::new(pool.clone()),
        Box::new(dropped_log_lines.clone()),
        Box::new(throttle_store_errors.clone()),
        Box::new(build),
    ] {
        registry
            .register(collector)
            .expect("metric registered once");
    }
    Metrics {
        registry,
        requests,
        latency,
        in_flight,
        pool,
        dropped_log_lines,
        throttle_store_errors,
    }
});

/// A request's rate could not be checked: the throttle store failed.
pub fn throttle_store_error() {
    METRICS.throttle_store_errors.inc();
}

/// A request started.
pub fn started() {
    METRICS.in_flight.inc();
}

/// Requests started and not answered yet.
pub fn in_flight() -> i64 {
    METRICS.in_flight.get()
}

/// A request was answered. Methods outside RFC 9110's and PATCH are counted as `other`: a
/// client may send any token as a method, and each would make series of its own.
pub fn finished(method: &str, route: &str, status: u16, seconds: f64) {
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "CONNECT" | "TRACE" => {
            method
        }
        _ => "other",
    };
    let mut digits = itoa::Buffer::new();
    let labels = [method, route, digits.format(status)];
    METRICS.in_flight.dec();
    METRICS.requests.with_label_values(&labels).inc();
    METRICS.latency.with_label_values(&labels).observe(seconds);
}

/// What `/metrics` reads the pool's state from.
pub struct PoolSources {
    pub db: DatabaseConnection,
    pub stats: Arc<PoolStats>,
    pub max: u32,
}

pub async fn endpoint(sources: web::Data<PoolSources>) -> HttpResponse {
    let (open, idle) = match sources.db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = sources.db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = sources.db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    let kept = sources.stats.kept_idle.load(Ordering::Relaxed).max(0);
    let pool = &METRICS.pool;
    pool.with_label_values(&["max"]).set(i64::from(sources.max));
    pool.with_label_values(&["open"]).set(i64::from(open));
    pool.with_label_values(&["idle"]).set(idle as i64 + kept);
    pool.with_label_values(&["waiting"])
        .set(sources.stats.waiting.load(Ordering::Relaxed).max(0));
    let dropped = crate::telemetry::dropped_lines();
    let counted = METRICS.dropped_log_lines.get();
    if dropped > counted {
        METRICS.dropped_log_lines.inc_by(dropped - counted);
    }
    let mut body = Vec::new();
    match TextEncoder::new().encode(&METRICS.registry.gather(), &mut body) {
        Ok(()) => {
            // This service's own count (not the process's), so it is written here rather
            // than kept in the registry.
            let statements = sources.stats.statements.load(Ordering::Relaxed);
            let discarded = sources.stats.discarded.load(Ordering::Relaxed);
            body.extend_from_slice(
                format!(
                    "# HELP db_statements_total Statements sent to the database.\n\
                     # TYPE db_statements_total counter\n\
                     db_statements_total {statements}\n\
                     # HELP db_connections_discarded_total Connections closed after a \
                     connection-level failure or a failed check (a database restart, a cut \
                     network path).\n\
                     # TYPE db_connections_discarded_total counter\n\
                     db_connections_discarded_total {discarded}\n"
                )
                .as_bytes(),
            );
            HttpResponse::Ok()
                .content_type(TextEncoder::new().format_type())
                .body(body)
        }
        Err(error) => {
            tracing::error!(%error, "encoding metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
