//! Who opens PostgreSQL connections. A connection's socket answers to the runtime that opened
//! it, so the HTTP workers open the connections they keep: the start-up's are closed before
//! they start, housekeeping closes its own after each statement, and the pool opens none of
//! its own accord; `database.min_connections` are opened by the workers.

use std::time::{Duration, Instant};

use infrastructure::Secret;
use infrastructure::database::{Db, Wire};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::helpers::{Backend, TestApp, TestDatabase, spawn_app_with, test_settings};
use crate::outage::pool;

/// `(open, idle)` once it equals `want`; the last figures seen if `within` passes first.
async fn pool_reaches(app: &TestApp, want: (i64, i64), within: Duration) -> (i64, i64) {
    let started = Instant::now();
    loop {
        let now = pool(app).await;
        if now == want || started.elapsed() > within {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The app on PostgreSQL with `customize`d settings; `None` when it is unreachable outside CI.
async fn spawn(customize: impl FnOnce(&mut api::settings::Settings)) -> Option<TestApp> {
    spawn_app_with(Backend::Postgres, customize, api::resources::register).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_ups_connections_are_closed_before_serving() {
    let Some(app) = spawn(|settings| {
        settings.database.auto_migrate = true;
        settings.database.min_connections = 0;
    })
    .await
    else {
        return;
    };
    // The migrations and the first housekeeping round ran on connections of the start-up,
    // closed before serving (the last may take a moment); `/metrics` reads no table.
    assert_eq!(
        pool_reaches(&app, (0, 0), Duration::from_secs(3)).await,
        (0, 0),
        "(open, idle) before any request"
    );
    assert_eq!(app.get("/items/").await.status(), 200);
    let (open, _) = pool(&app).await;
    assert!(open >= 1, "a request opened its worker's connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_open_min_connections_and_keep_them() {
    let Some(app) = spawn(|settings| {
        settings.server.workers = 2;
        settings.database.max_connections = 9;
        settings.database.min_connections = 3;
    })
    .await
    else {
        return;
    };
    // One worker opens two, the other one, as they start: no request needed.
    assert_eq!(
        pool_reaches(&app, (3, 3), Duration::from_secs(5)).await,
        (3, 3),
        "(open, idle) after start"
    );
    for _ in 0..10 {
        assert_eq!(app.get("/items/").await.status(), 200);
    }
    let (open, idle) = pool_reaches(&app, (3, 3), Duration::from_secs(1)).await;
    assert!(open >= 3 && open == idle, "kept: {open} open, {idle} idle");
}

/// A pool as the service opens it, for the test's own runtime.
async fn service_pool(url: &str, min_connections: u32) -> DatabaseConnection {
    let mut settings = test_settings().database;
    settings.url = Secret::new(url.to_string());
    settings.min_connections = min_connections;
    infrastructure::database::connect(&settings)
        .await
        .expect("connects")
}

/// The pool's open connections once they stop changing (a closed one goes in a task).
async fn settled_size(db: &DatabaseConnection) -> u32 {
    let pool = db.get_postgres_connection_pool();
    let started = Instant::now();
    let mut last = pool.size();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = pool.size();
        if (now == last && started.elapsed() > Duration::from_millis(300))
            || started.elapsed() > Duration::from_secs(3)
        {
            return now;
        }
        last = now;
    }
}

#[tokio::test]
async fn housekeeping_closes_its_connection_and_the_pool_opens_none() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let shared = service_pool(&database.url, 2).await;
    // The check `connect` makes, closed: the pool does not top itself up to 2 from here.
    infrastructure::database::close_idle(&shared).await;
    assert_eq!(settled_size(&shared).await, 0, "after close_idle");
    let housekeeping = Db::transient(
        shared.clone(),
        Wire::Prepared {
            statement_timeout_ms: 0,
        },
    );
    for _ in 0..3 {
        housekeeping.execute_unprepared("SELECT 1").await.unwrap();
    }
    assert_eq!(
        settled_size(&shared).await,
        0,
        "housekeeping's connections given back to the pool"
    );
}
