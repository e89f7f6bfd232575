//! Building and running the server: `Application::build(settings)` connects, migrates,
//! binds its listener (port 0 works) and wires the routes; `run_until_stopped` serves until
//! SIGTERM or SIGINT, keeps serving for `server.shutdown_delay_ms` while it turns clients
//! away (see [`shutting_down`]), then drains in-flight requests.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::Server;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{Condition, Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use infrastructure::PersistenceError;
use infrastructure::database::{Db, PoolStats};
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

use crate::docs;
use crate::error::ApiError;
use crate::health::{self, Readiness};
use crate::metrics::{self, PoolSources};
use crate::resources;
use crate::security::{AllowedHosts, Throttle, TrustedProxies, check_host};
use crate::settings::{CorsSettings, Settings};
use crate::telemetry::requests::{RequestSpan, X_REQUEST_ID, response_headers};
use crate::viewset::{self, AppState, Router};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting that does not hold (as `Settings::load` would have said).
    #[error("configuration error: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] infrastructure::PersistenceError),
    #[error("migrations: {0}")]
    Migration(#[from] sea_orm::DbErr),
    #[error("server.host/server.port: cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` on a listener of its own (`server.metrics_port`), when set.
    metrics: Option<Server>,
    db: DatabaseConnection,
    /// The connection housekeeping uses.
    maintenance: Db,
    throttle: Option<Arc<Throttle>>,
    shutdown_delay: Duration,
}

impl Application {
    /// The service with its own resources.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        Application::build_with(settings, resources::register).await
    }

    /// The service with the resources `register` adds (tests add their own).
    pub async fn build_with(
        settings: Settings,
        register: impl FnOnce(Router) -> Router,
    ) -> Result<Application, StartupError> {
        let proxies =
            TrustedProxies::new(&settings.server.trusted_proxies).map_err(StartupError::Config)?;
        let allowed_hosts =
            AllowedHosts::new(&settings.server.allowed_hosts).map_err(StartupError::Config)?;
        let throttle = match settings.throttle.enabled {
            true => Some(Arc::new(
                Throttle::new(&settings.throttle).map_err(StartupError::Config)?,
            )),
            false => None,
        };
        tracing::info!(database = %settings.database.redacted_url(), "connecting");
        let mut answered = true;
        let db = match infrastructure::database::connect(&settings.database).await {
            Ok(db) => db,
            // Without migrations to run (production), a database that is down does not stop
            // the start: `/health/ready` and the requests answer 503 until it is up.
            Err(unreachable @ PersistenceError::Unavailable(_))
                if !settings.database.auto_migrate =>
            {
                let db = infrastructure::database::connect_lazily(&settings.database)
                    .await
                    .map_err(|_| unreachable)?;
                tracing::warn!(
                    database = %settings.database.redacted_url(),
                    "the database is not answering: serving 503 until it does"
                );
                answered = false;
                db
            }
            Err(error) => return Err(error.into()),
        };
        let schema_current = if settings.database.auto_migrate {
            migration::up(&db).await?;
            true
        } else if answered {
            health::schema_current(&db).await
        } else {
            // Not asked of a database that did not answer (another connect timeout before
            // listening): readiness checks the schema once the database is back.
            false
        };
        let maintenance = Db::transient(db.clone(), settings.database.wire());
        if schema_current {
            purge_idempotency_keys(&maintenance).await;
        }
        // The workers open the connections they keep (see `close_idle`).
        infrastructure::database::close_idle(&db).await;
        let router = register(Router::new());
        let openapi = docs::document(&router, &settings);
        let resource_paths = router.paths();
        let router = web::Data::new(router);
        let pages = settings.pagination.defaults();
        let body_limit = settings.server.body_limit_bytes;
        let workers = settings.workers();
        // Each worker keeps its share of the pool leased between requests (at least one
        // connection: `Settings::workers` and its check leave enough); one connection stays
        // with the pool for readiness checks and housekeeping.
        let keep = (settings.database.max_connections.saturating_sub(1) as usize / workers).max(1);
        let pool = db.clone();
        let wire = settings.database.wire();
        let pool_stats = Arc::new(PoolStats::default());
        let pool_sources = web::Data::new(PoolSources {
            db: db.clone(),
            stats: pool_stats.clone(),
            max: settings.database.max_connections,
            throttle_errors: throttle.as_deref().and_then(Throttle::store_errors),
        });
        let permission = settings.auth.permission;
        let request_timeout = Duration::from_millis(settings.server.request_timeout_ms);
        let idempotency_ttl = Duration::from_secs(settings.idempotency.ttl_secs);
        let cors_settings = settings.cors.clone();
        let per_worker_throttle = throttle.clone();
        let readiness = web::Data::new(Readiness {
            timeout: Duration::from_millis(settings.server.readiness_timeout_ms),
            schema_current: AtomicBool::new(schema_current),
        });

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let bind_error = |source| StartupError::Bind {
            address: address.clone(),
            source,
        };
        let listener = TcpListener::bind(&address).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let metrics_here = docs::metrics_on_api_port(&settings);
        let metrics = if metrics_here {
            None
        } else {
            Some(metrics_server(
                &settings.server.host,
                settings.server.metrics_port,
                pool_sources.clone(),
            )?)
        };

        // `database.min_connections`, shared out among the workers, each opening its share
        // from its own runtime (PostgreSQL; SQLite's pool keeps them itself).
        let floor = settings.database.min_connections as usize;
        let started = Arc::new(AtomicUsize::new(0));
        let server = HttpServer::new(move || {
            let router = router.clone();
            let index = started.fetch_add(1, Ordering::Relaxed) % workers;
            let share = floor / workers + usize::from(index < floor % workers);
            let state = web::Data::new(AppState {
                db: Db::new(pool.clone(), keep, pool_stats.clone(), wire),
                pages,
                body_limit,
                proxies: proxies.clone(),
                allowed_hosts: allowed_hosts.clone(),
                permission,
                throttle: per_worker_throttle.as_deref().map(Throttle::for_worker),
                request_timeout,
                idempotency_ttl,
            });
            if share > 0 {
                let state = state.clone();
                actix_web::rt::spawn(async move { state.db.warm(share).await });
            }
            // Resources first: routes are tried in order, and theirs are the busy ones.
            App::new()
                .wrap(from_fn(check_host))
                .wrap(Condition::new(
                    !cors_settings.allowed_origins.is_empty(),
                    cors(&cors_settings),
                ))
                .wrap(Condition::new(
                    !cors_settings.allowed_origins.is_empty(),
                    from_fn(json_refusals),
                ))
                .wrap(from_fn(response_headers))
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(state)
                .app_data(readiness.clone())
                .configure(|config| router.configure(config))
                .configure(health::configure)
                .app_data(pool_sources.clone())
                .configure(|config| {
                    if metrics_here {
                        config.service(health::get_and_head("/metrics", metrics::endpoint));
                    }
                })
                .configure(|config| {
                    docs::configure(config, openapi.clone(), &resource_paths, metrics_here)
                })
                .default_service(web::to(not_found))
        })
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .disable_signals();
        let server = server.listen(listener).map_err(bind_error)?.run();
        // The address bound, with the port the system chose for port 0.
        let listening = format!("{}:{port}", settings.server.host);
        tracing::info!(address = %listening, "listening");
        Ok(Application {
            port,
            server,
            metrics,
            db,
            maintenance,
            throttle,
            shutdown_delay: Duration::from_millis(settings.server.shutdown_delay_ms),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT; then, for `server.shutdown_delay_ms` (cut short by a
    /// second signal), keeps serving while readiness fails and every response closes its
    /// connection; then stops accepting, lets in-flight requests finish (up to
    /// `server.shutdown_timeout_secs`; a further signal stops at once, as an error) and
    /// closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let delay = self.shutdown_delay;
        let mut signals = tokio::spawn(async move {
            shutdown_signal().await;
            SHUTTING_DOWN.store(true, Ordering::Relaxed);
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "shutdown requested: readiness fails and connections close after their \
                     response until the delay ends (or another signal comes)"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown_signal() => {}
                }
            }
            tracing::info!("stopped accepting: draining in-flight requests");
            // (The stop is under way once asked for; the future only waits for it.)
            let drained = handle.stop(true);
            tokio::select! {
                _ = drained => false,
                _ = shutdown_signal() => true,
            }
        });
        let maintenance = tokio::spawn(maintain(self.maintenance, self.throttle.clone()));
        // The metrics listener runs until the service has stopped (scrapes see the drain).
        let metrics = self.metrics.map(|server| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let mut server = self.server;
        let result = tokio::select! {
            result = &mut server => result,
            Ok(true) = &mut signals => {
                // The pool is not closed: requests cut off may still hold connections.
                maintenance.abort();
                tracing::warn!("another signal while draining: stopped, in-flight requests cut off");
                return Err(std::io::Error::other(
                    "stopped by another signal while in-flight requests were draining",
                ));
            }
        };
        signals.abort();
        maintenance.abort();
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        // Requests still open once the drain ended were cut off at its timeout.
        let cut_off = metrics::in_flight();
        if cut_off > 0 {
            tracing::warn!(
                requests = cut_off,
                "in-flight requests cut off at server.shutdown_timeout_secs"
            );
        }
        self.db.close().await.ok();
        tracing::info!("stopped");
        result
    }
}

/// `/metrics` alone on `host:port`, one worker: a port a deployment keeps off its public
/// entry, for its monitoring network (`server.metrics_port`). Anything else there is a 404.
fn metrics_server(
    host: &str,
    port: u16,
    sources: web::Data<PoolSources>,
) -> Result<Server, StartupError> {
    let address = format!("{host}:{port}");
    let bind_error = |source| StartupError::Bind {
        address: address.clone(),
        source,
    };
    let listener = TcpListener::bind(&address).map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(sources.clone())
            .service(health::get_and_head("/metrics", metrics::endpoint))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(bind_error)?
    .run();
    tracing::info!(address = %format!("{host}:{port}"), "metrics listening");
    Ok(server)
}

/// Set once SIGTERM or SIGINT has come: the process is on its way out, so `/health/ready`
/// answers 503 and every response carries `Connection: close`. A keep-alive client then
/// learns with an answer that the connection ends, instead of sending its next request on a
/// connection the server is closing (a request lost in flight, whether it ran or not).
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

pub fn shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::Relaxed)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Housekeeping while the server runs: every minute forget idle throttle entries, every
/// hour delete expired idempotency keys (the start-up deletes them once before serving).
async fn maintain(db: Db, throttle: Option<Arc<Throttle>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    // The first tick is at once: the start-up has just done the work.
    tick.tick().await;
    for round in 1u64.. {
        tick.tick().await;
        if let Some(throttle) = &throttle {
            throttle.purge();
        }
        if round % 60 == 0 {
            purge_idempotency_keys(&db).await;
        }
    }
}

async fn purge_idempotency_keys(db: &Db) {
    match infrastructure::idempotency::purge_expired(db).await {
        Ok(deleted) if deleted > 0 => tracing::info!(deleted, "expired idempotency keys deleted"),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "deleting expired idempotency keys failed"),
    }
}

/// CORS for the configured origins (`*`: any), with the headers the API uses.
fn cors(settings: &CorsSettings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            viewset::IDEMPOTENCY_KEY,
            X_REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            X_REQUEST_ID,
            viewset::REPLAYED,
            HeaderName::from_static(viewset::COUNT_KIND),
        ])
        .max_age(settings.max_age_secs);
    for origin in &settings.allowed_origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// CORS's refusals (`Origin is not allowed to make this request`, as plain text) in the
/// shape of every other error: JSON with `detail`.
async fn json_refusals(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = next.call(request).await?;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/json"));
    if !response.status().is_client_error() || json {
        return Ok(response.map_into_left_body());
    }
    let (request, response) = response.into_parts();
    let status = response.status();
    let mut refusal = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            refusal.append_header((name.clone(), value.clone()));
        }
    }
    let text = actix_web::body::to_bytes(response.into_body())
        .await
        .ok()
        .and_then(|body| String::from_utf8(body.to_vec()).ok())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("Bad request")
                .to_string()
        });
    let refusal = refusal.json(serde_json::json!({ "detail": text }));
    Ok(ServiceResponse::new(request, refusal).map_into_right_body())
}

async fn not_found(_request: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
