//! Prometheus metrics at `/metrics`: requests by route and status, their latency, requests in
//! flight, the database pool, throttle store failures, and build information. Routes are the registered patterns
//! (`/items/{id}`), never raw paths, so the number of series stays bounded.

use std::sync::atomic::{AtomicU64, Ordering};
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
    dropped_log_lines: IntCounter,
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
    let dropped_log_lines = IntCounter::new(
        "log_lines_dropped_total",
        "Log lines dropped because the log writer fell behind.",
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
        Box::new(dropped_log_lines.clone()),
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
        dropped_log_lines,
    }
});

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

/// What `/metrics` reads of this service alone (tests run several in one process): its pool,
/// its statements, its throttle store.
pub struct PoolSources {
    pub db: DatabaseConnection,
    pub stats: Arc<PoolStats>,
    pub max: u32,
    /// The throttle store's failures (Redis), when there is one that can fail.
    pub throttle_errors: Option<Arc<AtomicU64>>,
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
    let dropped = crate::telemetry::dropped_lines();
    let counted = METRICS.dropped_log_lines.get();
    if dropped > counted {
        METRICS.dropped_log_lines.inc_by(dropped - counted);
    }
    let mut body = Vec::new();
    match TextEncoder::new().encode(&METRICS.registry.gather(), &mut body) {
        Ok(()) => {
            // This service's own pool and counts (not the process's: tests run several
            // services in one process), so they are written here rather than kept in the
            // registry.
            let statements = sources.stats.statements.load(Ordering::Relaxed);
            let discarded = sources.stats.discarded.load(Ordering::Relaxed);
            let waiting = sources.stats.waiting.load(Ordering::Relaxed).max(0);
            let throttle_errors = sources
                .throttle_errors
                .as_ref()
                .map_or(0, |errors| errors.load(Ordering::Relaxed));
            let (max, idle) = (sources.max, idle as i64 + kept);
            body.extend_from_slice(
                format!(
                    "# HELP db_pool_connections Database connections by state: max, open, idle, \
                     waiting (requests waiting for one).\n\
                     # TYPE db_pool_connections gauge\n\
                     db_pool_connections{{state=\"max\"}} {max}\n\
                     db_pool_connections{{state=\"open\"}} {open}\n\
                     db_pool_connections{{state=\"idle\"}} {idle}\n\
                     db_pool_connections{{state=\"waiting\"}} {waiting}\n\
                     # HELP db_statements_total Statements sent to the database.\n\
                     # TYPE db_statements_total counter\n\
                     db_statements_total {statements}\n\
                     # HELP db_connections_discarded_total Connections closed after a \
                     connection-level failure or a failed check (a database restart, a cut \
                     network path).\n\
                     # TYPE db_connections_discarded_total counter\n\
                     db_connections_discarded_total {discarded}\n\
                     # HELP throttle_store_errors_total Requests whose rate the throttle store \
                     could not check (served or refused as throttle.fail_open says).\n\
                     # TYPE throttle_store_errors_total counter\n\
                     throttle_store_errors_total {throttle_errors}\n"
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
