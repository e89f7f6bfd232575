//! The database goes away and comes back: requests answer 503 within the acquire timeout
//! (never hang, never 500), readiness fails while liveness holds, and the service recovers
//! by itself. A TCP proxy the test controls stands between the app and PostgreSQL.

use std::time::{Duration, Instant};

use infrastructure::Secret;
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::proxy::Proxy;
use crate::helpers::{Backend, TestApp, admin_url, host_port, spawn_app_with, via};

/// The app behind a proxy the test controls. `down`: the proxy refuses connections from the
/// start, and the app has no migrations to run (as in production).
async fn spawn_behind_proxy(down: bool) -> Option<(TestApp, Proxy)> {
    spawn_behind_proxy_with(down, |_| {}).await
}

async fn spawn_behind_proxy_with(
    down: bool,
    customize: impl FnOnce(&mut api::settings::Settings),
) -> Option<(TestApp, Proxy)> {
    let proxy = Proxy::start(host_port(&admin_url())).await;
    if down {
        proxy.cut();
    }
    let through_proxy = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_with(
        Backend::Postgres,
        |settings| {
            settings.database.url =
                Secret::new(via(settings.database.url.expose(), &through_proxy));
            settings.database.auto_migrate = !down;
            settings.database.acquire_timeout_ms = 1000;
            settings.database.connect_timeout_ms = 1000;
            settings.server.readiness_timeout_ms = 500;
            customize(settings);
        },
        api::resources::register,
    )
    .await?;
    Some((app, proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_gives_503_within_the_timeout_and_recovers_by_itself() {
    let Some((app, proxy)) = spawn_behind_proxy(false).await else {
        return;
    };
    let item = app.create_item("Survivor", 1.0).await;
    let path = format!("/items/{}", item["id"]);

    proxy.cut();
    let requests = [
        (Method::GET, path.clone(), None),
        (Method::GET, "/items/?page_size=5".to_string(), None),
        (
            Method::POST,
            "/items/".to_string(),
            Some(json!({"name": "x", "description": "", "price": 1})),
        ),
        (Method::PATCH, path.clone(), Some(json!({"price": 2}))),
        (Method::GET, path.clone(), None),
    ];
    for (method, path, body) in requests {
        let started = Instant::now();
        let mut request = app
            .request(method.clone(), &path)
            .timeout(Duration::from_secs(10));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an answer, not a hang");
        assert_eq!(response.status(), 503, "{method} {path}");
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{method} {path} took {:?}",
            started.elapsed()
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].is_string());
        assert!(
            !body.to_string().to_lowercase().contains("pool"),
            "no driver message leaks: {body}"
        );
    }
    let started = Instant::now();
    assert_eq!(app.get("/health/ready").await.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "readiness took {:?}",
        started.elapsed()
    );
    assert_eq!(app.get("/health/live").await.status(), 200);

    proxy.restore();
    let restored = Instant::now();
    loop {
        if app.get("/health/ready").await.status() == 200 && app.get(&path).await.status() == 200 {
            break;
        }
        assert!(
            restored.elapsed() < Duration::from_secs(5),
            "not recovered within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(
        after["price"], 1.0,
        "the PATCH during the outage changed nothing"
    );
}

/// This service's open and idle connections (`db_pool_connections`), from one `/metrics`.
pub(crate) async fn pool(app: &TestApp) -> (i64, i64) {
    let text = app.get("/metrics").await.text().await.unwrap();
    let state = |name: &str| -> i64 {
        let prefix = format!("db_pool_connections{{state=\"{name}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("db_pool_connections {name} in /metrics"))
    };
    (state("open"), state("idle"))
}

/// Every open connection idle again: none was lost by a request that went away.
async fn until_all_idle(app: &TestApp, within: Duration) -> (i64, i64) {
    let started = Instant::now();
    loop {
        let (open, idle) = pool(app).await;
        if open == idle {
            return (open, idle);
        }
        assert!(
            started.elapsed() < within,
            "{open} open but {idle} idle after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 1000 requests dropped by their clients while their queries run: each hands its
/// connection back (the lease returns it when the request's future is dropped), so the pool
/// ends with every connection idle and serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_dropped_mid_query_hand_their_connections_back() {
    // A connection for every request of a batch: they reach their queries at once.
    const BATCH: usize = 20;
    let Some((app, proxy)) =
        spawn_behind_proxy_with(false, |s| s.database.max_connections = BATCH as u32 + 1).await
    else {
        return;
    };
    let item = app.create_item("Slow", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    let (open, _) = until_all_idle(&app, Duration::from_secs(5)).await;
    assert!(open >= 1);

    // Every query now takes at least 40 ms; every client gives up after 10 ms. Between
    // batches the dropped queries end, and their connections come back.
    let statements_before = app.metric("db_statements_total").await;
    proxy.set_delay(Duration::from_millis(20));
    let mut dropped = 0;
    for _ in 0..1000 / BATCH {
        let batch = (0..BATCH).map(|i| {
            let path = if i % 2 == 0 {
                path.clone()
            } else {
                "/items/?page_size=5".into()
            };
            app.request(Method::GET, &path)
                .timeout(Duration::from_millis(10))
                .send()
        });
        for result in futures_util::future::join_all(batch).await {
            dropped += usize::from(result.is_err_and(|e| e.is_timeout()));
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    assert!(
        dropped >= 900,
        "only {dropped} of 1000 requests were dropped"
    );
    proxy.set_delay(Duration::ZERO);
    // Most were dropped with their statement sent, not while waiting for a connection (about
    // 1000 statements go out; the margin is for a busy machine, where a batch may start
    // before every connection of the last one is back).
    let sent = app.metric("db_statements_total").await - statements_before;
    assert!(
        sent >= 500.0,
        "only {sent} statements went out for 1000 requests"
    );

    // Every connection came back idle, and the pool serves.
    let (open, idle) = until_all_idle(&app, Duration::from_secs(30)).await;
    assert!(open >= 1, "{open} open, {idle} idle");
    let started = Instant::now();
    assert_eq!(app.get(&path).await.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Sends `reads` GETs one after another (list and detail in turn, the list first: its first
/// statement is the planner's estimate, an `EXPLAIN`); returns the statuses.
async fn sequential_reads(app: &TestApp, path: &str, reads: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..reads {
        let path = if i % 2 == 1 {
            path
        } else {
            "/items/?page_size=5"
        };
        statuses.push(app.get(path).await.status().as_u16());
    }
    statuses
}

/// Creates `writes` items one after another; returns how many answered 503 (any other
/// answer than 201 or 503 fails the test).
async fn sequential_writes(app: &TestApp, writes: usize) -> usize {
    let mut failed = 0;
    for i in 0..writes {
        let body = json!({"name": format!("w{i}"), "description": "", "price": 1});
        let status = app.post_item(&body).await.status();
        assert!(status == 201 || status == 503, "{status}");
        failed += usize::from(status == 503);
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_with_no_traffic_fails_no_read_and_at_most_one_write() {
    let Some((app, proxy)) = spawn_behind_proxy(false).await else {
        return;
    };
    let item = app.create_item("Survivor", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    // Warm: several connections open and kept.
    let warm = (0..20).map(|_| app.get(&path));
    futures_util::future::join_all(warm).await;

    // Restarted at once (connections cut, none idle long enough to be checked), then after
    // a pause longer than the idle check.
    for pause in [Duration::ZERO, Duration::from_millis(1500)] {
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.restore();
        tokio::time::sleep(pause).await;
        let statuses = sequential_reads(&app, &path, 50).await;
        assert!(
            statuses.iter().all(|&s| s == 200),
            "after a restart (pause {pause:?}): {statuses:?}"
        );
    }
    // The dead connections were found and closed, and /metrics says so.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let discarded: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("db_connections_discarded_total "))
        .and_then(|value| value.parse().ok())
        .expect("db_connections_discarded_total in /metrics");
    assert!(discarded >= 1, "{discarded} connections discarded");

    // Writes are not retried (one might have reached the database): at most one fails.
    futures_util::future::join_all((0..20).map(|_| app.get(&path))).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.restore();
    let failed = sequential_writes(&app, 20).await;
    assert!(failed <= 1, "{failed} writes failed after the restart");
}

/// The database stops answering without closing its connections (a stalled network path:
/// what was sent is lost). Requests and the readiness probe fail within their timeouts; once
/// traffic flows again, so does the service, without a restart: no connection is left
/// waiting for an answer that will never come, holding a slot of the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_leaves_no_connection_waiting_for_good() {
    let Some((app, proxy)) = spawn_behind_proxy_with(false, |settings| {
        settings.database.max_connections = 3;
        settings.server.request_timeout_ms = 1500;
    })
    .await
    else {
        return;
    };
    let item = app.create_item("Survivor", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    // Every connection of the pool open: each is caught by the stall below.
    futures_util::future::join_all((0..12).map(|_| app.get(&path))).await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    proxy.set_swallow(true);
    let reads = futures_util::future::join_all((0..4).map(|_| app.get(&path)));
    let probes = futures_util::future::join_all((0..2).map(|_| app.get("/health/ready")));
    let (reads, probes) = tokio::join!(reads, probes);
    for response in reads.iter().chain(&probes) {
        assert_eq!(response.status(), 503);
    }
    proxy.set_swallow(false);
    ready_again_and_serving(&app, &path, 20).await;
}

/// Once the database answers again: readiness is back within 10 s, with no restart, and
/// `reads` sequential reads all succeed.
async fn ready_again_and_serving(app: &TestApp, path: &str, reads: usize) {
    let restored = Instant::now();
    while app.get("/health/ready").await.status() != 200 {
        assert!(
            restored.elapsed() < Duration::from_secs(10),
            "readiness not back within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let statuses = sequential_reads(app, path, reads).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
}

/// A stall (connections open, nothing answered) fails requests on warm connections at the
/// statement timeout plus a second, not at the request timeout: a connection that sent a
/// statement and hears nothing past the time the database would have cancelled it is given
/// up. (A database that does not answer is a 503 within the timeout, never a hang:
/// docs/operations.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_fails_requests_at_the_statement_timeout_not_the_request_timeout() {
    let Some((app, proxy)) = spawn_behind_proxy_with(false, |settings| {
        settings.database.statement_timeout_ms = 500;
        settings.server.request_timeout_ms = 30_000;
    })
    .await
    else {
        return;
    };
    let item = app.create_item("Survivor", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    futures_util::future::join_all((0..12).map(|_| app.get(&path))).await;

    proxy.set_swallow(true);
    let started = Instant::now();
    let reads = futures_util::future::join_all((0..4).map(|_| app.get(&path))).await;
    let took = started.elapsed();
    for response in &reads {
        assert_eq!(response.status(), 503);
    }
    assert!(took < Duration::from_secs(5), "503s took {took:?}");
    proxy.set_swallow(false);
    ready_again_and_serving(&app, &path, 10).await;
}

/// PostgreSQL ending the connections itself, as a restart (or `pg_terminate_backend`) does:
/// each kept connection answers its next statement with `57P01`. No read fails (the first is
/// retried on a fresh connection, and every connection kept from before is closed), and at
/// most one write does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_ending_its_connections_fails_no_read_and_at_most_one_write() {
    let Some(app) = spawn_app_with(Backend::Postgres, |_| {}, api::resources::register).await
    else {
        return;
    };
    let item = app.create_item("Survivor", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    let database = app.database_url.rsplit('/').next().unwrap();
    let database = database.split('?').next().unwrap();
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    );
    let admin = sea_orm::Database::connect(admin_url()).await.unwrap();
    let end_every_connection = || async {
        futures_util::future::join_all((0..20).map(|_| app.get(&path))).await;
        admin.execute_unprepared(&terminate).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for round in 0..2 {
        end_every_connection().await;
        let statuses = sequential_reads(&app, &path, 50).await;
        assert!(
            statuses.iter().all(|&s| s == 200),
            "round {round}: {statuses:?}"
        );
    }
    end_every_connection().await;
    let failed = sequential_writes(&app, 20).await;
    assert!(
        failed <= 1,
        "{failed} writes failed after the connections ended"
    );
}

/// Without migrations to run (production), a service that starts while its database is down
/// starts all the same: alive, not ready, 503 to requests; then ready once the database
/// answers, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_while_its_database_is_down_waits_for_it() {
    let Some((app, proxy)) = spawn_behind_proxy(true).await else {
        return;
    };
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert_eq!(app.get("/health/ready").await.status(), 503);
    assert_eq!(app.get("/items/").await.status(), 503);
    // (Its database, reached directly, has the migrations a production database would have:
    // readiness also waits for them.)
    let direct = sea_orm::Database::connect(&app.database_url).await.unwrap();
    migration::up(&direct).await.unwrap();
    direct.close().await.unwrap();
    proxy.restore();
    let started = Instant::now();
    while app.get("/health/ready").await.status() != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not ready 10 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
