//! `database.statement_timeout_ms`: on PostgreSQL every statement of a request runs under it;
//! one that runs past it is cancelled by the server and answers 503 with a `detail`, quickly,
//! without SQL or driver text, and leaves its connection (and the pool) fit for the next
//! request. A test-only resource whose `get_queryset` sleeps in the database (`pg_sleep`, for
//! as long as the row's `seconds` say) makes the slow statement.
//!
//! The statement timeout is PostgreSQL's: SQLite has none (its statements run in the
//! service's own process). The request timeout's treatment of writes is tested on both.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use api::viewset::{Ctx, Resource, Router};
use domain::query::Filtering;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{
    Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, Statement,
    TransactionTrait,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};

/// How long the service lets a statement run, in these tests.
const STATEMENT_TIMEOUT_MS: u64 = 300;

mod nap {
    use infrastructure::repository::Table;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "naps")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seconds: f64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Table for Entity {
        type Key = i64;

        fn key(model: &Model) -> i64 {
            model.id
        }
    }
}

/// A row that costs `seconds` of database time to read.
#[derive(Serialize)]
struct Nap {
    id: i64,
    seconds: f64,
}

impl From<nap::Model> for Nap {
    fn from(m: nap::Model) -> Self {
        Nap {
            id: m.id,
            seconds: m.seconds,
        }
    }
}

const NAP_FILTERING: Filtering = Filtering {
    filters: &[],
    search: &[],
    ordering: &[],
    default_ordering: &["id"],
};

struct Naps;

impl Resource for Naps {
    type Entity = nap::Entity;
    type Read = Nap;
    const NAME: &'static str = "Nap";
    const PATH: &'static str = "naps";
    const FILTERING: &'static Filtering = &NAP_FILTERING;

    /// Every row the statement looks at sleeps for its `seconds`, and counts in the sequence
    /// `nap_runs` (not rolled back by the cancellation): how often the statement ran.
    fn get_queryset(_ctx: &Ctx<'_>) -> Condition {
        Condition::all().add(Expr::cust(
            "pg_sleep(\"naps\".\"seconds\" + nextval('nap_runs') * 0)::text = ''",
        ))
    }
}

fn register(router: Router) -> Router {
    api::resources::register(router).read_only::<Naps>()
}

/// The app (one worker, which keeps one connection) with `naps`: row 1 is quick, row 2
/// sleeps far longer than the statement timeout. `prepared`: prepared statements, the timeout
/// set on the connection; otherwise values inlined, each statement carrying the timeout with
/// it (as behind PgBouncer in transaction mode).
async fn spawn(prepared: bool) -> Option<TestApp> {
    let app = spawn_app_with(
        Backend::Postgres,
        |s| {
            s.server.workers = 1;
            s.database.max_connections = 2;
            s.database.statement_timeout_ms = STATEMENT_TIMEOUT_MS;
            s.database.prepared_statements = prepared;
        },
        register,
    )
    .await?;
    let db = app.db().await;
    for sql in [
        "CREATE TABLE naps (id BIGINT PRIMARY KEY, seconds DOUBLE PRECISION NOT NULL)",
        "INSERT INTO naps VALUES (1, 0), (2, 5)",
        "CREATE SEQUENCE nap_runs",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    Some(app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_statement_answers_503_and_the_connection_serves_on_postgres() {
    if let Some(app) = spawn(true).await {
        slow_statement_answers_503(app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_statement_answers_503_and_the_connection_serves_on_postgres_inline() {
    if let Some(app) = spawn(false).await {
        slow_statement_answers_503(app).await;
    }
}

async fn slow_statement_answers_503(app: TestApp) {
    let db = app.db().await;
    let quick = app.get("/naps/1/").await;
    assert_eq!(quick.status(), 200);
    assert_eq!(
        quick.json::<Value>().await.unwrap(),
        json!({"id": 1, "seconds": 0.0})
    );
    // Readiness opens its connection now, the worker has its own: both are counted.
    assert_eq!(app.get("/health/ready").await.status(), 200);
    let connections = app_connections(&db).await;
    assert!(!connections.is_empty(), "the app's connections are visible");
    let runs_before = nap_runs(&db).await;

    // Retrieve: one statement, which sleeps 5 s on row 2.
    let started = Instant::now();
    let response = app.get("/naps/2/").await;
    let elapsed = started.elapsed();
    assert_timed_out(response, elapsed).await;
    assert_eq!(
        nap_runs(&db).await - runs_before,
        1,
        "the cancelled read ran once: not retried"
    );

    // A list: its first statement (the count) sleeps on row 2 as well.
    let started = Instant::now();
    let response = app.get("/naps/").await;
    assert_timed_out(response, started.elapsed()).await;

    // The connection that ran them answers the next requests; the pool is healthy.
    assert_eq!(app.get("/naps/1/").await.status(), 200);
    assert_eq!(app.get("/items/").await.status(), 200);
    assert_eq!(app.get("/health/ready").await.status(), 200);
    assert_eq!(
        app_connections(&db).await,
        connections,
        "no connection was closed or opened because of the timeouts"
    );
}

async fn assert_timed_out(response: reqwest::Response, elapsed: Duration) {
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body = response.text().await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"detail": "The database took too long to answer."})
    );
    for leak in [
        "pg_sleep",
        "naps",
        "SELECT",
        "statement timeout",
        "canceling",
        "57014",
    ] {
        assert!(!body.contains(leak), "{leak:?} in {body}");
    }
    // Cancelled at 300 ms: far from the 5 s the statement asked for, or from the 30 s
    // request timeout.
    assert!(
        elapsed >= Duration::from_millis(STATEMENT_TIMEOUT_MS) && elapsed < Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
}

/// The backend process ids of the app's connections (`application_name` is `api`).
async fn app_connections(db: &DatabaseConnection) -> BTreeSet<i32> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'api'",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<i32>("", "pid").unwrap())
        .collect()
}

/// How many times a statement looked at a nap row (the sequence's last value).
async fn nap_runs(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS runs FROM nap_runs",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "runs").unwrap()
}

/// `server.request_timeout_ms` and writes: a request whose write is waiting at the database
/// when the timeout passes is let finish, and answers with what became of the write, never
/// a 503 for a row that was then stored (a client retrying it would create twice). The
/// database bounds that wait: SQLite's busy timeout, PostgreSQL's statement timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_past_the_request_timeout_answers_its_outcome_on_sqlite() {
    let app = spawn_app_with(
        Backend::Sqlite,
        |s| {
            s.server.request_timeout_ms = 1000;
            s.database.statement_timeout_ms = 500;
            s.database.sqlite_busy_timeout_ms = 5000;
        },
        api::resources::register,
    )
    .await
    .unwrap();
    // Another connection's write transaction holds the database until 1.5 s.
    let lock = locked(&app, "DELETE FROM items WHERE id = -1").await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lock.commit().await.unwrap();
    });
    let started = Instant::now();
    let response = app
        .post_item(&json!({"name": "late", "description": "", "price": 1}))
        .await;
    let elapsed = started.elapsed();
    release.await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    assert!(elapsed >= Duration::from_millis(1400), "after {elapsed:?}");
    assert_eq!(app.ids("/items/?name=late").await.len(), 1);
}

/// The same on PostgreSQL, through a nested create: its first statement (is the category
/// there?) waits 1.1 s on a lock of `categories`, then its insert waits on a lock of `items`
/// until 2.4 s: past the request timeout (2 s), each within its statement timeout (1.9 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_past_the_request_timeout_answers_its_outcome_on_postgres() {
    let Some(app) = spawn_app_with(
        Backend::Postgres,
        |s| {
            s.server.request_timeout_ms = 2000;
            s.database.statement_timeout_ms = 1900;
        },
        api::resources::register,
    )
    .await
    else {
        return;
    };
    let category = app
        .send_json(Method::POST, "/categories/", &json!({"name": "Tools"}))
        .await;
    assert_eq!(category.status(), 201);
    let category = category.json::<Value>().await.unwrap()["id"].clone();
    let categories = locked(&app, "LOCK TABLE categories IN ACCESS EXCLUSIVE MODE").await;
    let items = locked(&app, "LOCK TABLE items IN SHARE MODE").await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        categories.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1300)).await;
        items.commit().await.unwrap();
    });
    let started = Instant::now();
    let response = app
        .send_json(
            Method::POST,
            &format!("/categories/{category}/items/"),
            &json!({"name": "late", "description": "", "price": 1}),
        )
        .await;
    let elapsed = started.elapsed();
    release.await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    assert!(elapsed >= Duration::from_millis(2300), "after {elapsed:?}");
    assert_eq!(app.ids("/items/?name=late").await.len(), 1);
}

/// With `database.statement_timeout_ms = 0` nothing bounds a write's wait: the request is cut
/// off at its timeout all the same (never a hang), and its 503 says the change may still be
/// applied, without `Retry-After`. (Whether it is depends on how far it had gone: a statement
/// this connection had not prepared yet waits on the lock before its insert was even sent.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_off_with_no_statement_timeout_says_it_may_still_apply() {
    let Some(app) = spawn_app_with(
        Backend::Postgres,
        |s| {
            s.server.request_timeout_ms = 1000;
            s.database.statement_timeout_ms = 0;
        },
        api::resources::register,
    )
    .await
    else {
        return;
    };
    let items = locked(&app, "LOCK TABLE items IN SHARE MODE").await;
    // Held well past the request timeout (1 s), so the cut-off comes first even on a busy
    // machine.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        items.commit().await.unwrap();
    });
    let started = Instant::now();
    let response = app
        .post_item(&json!({"name": "late", "description": "", "price": 1}))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "The request took too long to process; its change may still be applied."})
    );
    assert!(elapsed < Duration::from_millis(2000), "after {elapsed:?}");
    release.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.ids("/items/?name=late").await.len() <= 1);
}

/// A create with an `Idempotency-Key` whose insert hits the statement timeout answers the
/// same 503 as one without a key, `Retry-After` included (the insert was rolled back: the
/// retry is safe), and the retry with that key then creates the row, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_create_past_the_statement_timeout_keeps_its_retry_after() {
    let Some(app) = spawn_app_with(
        Backend::Postgres,
        |s| s.database.statement_timeout_ms = STATEMENT_TIMEOUT_MS,
        api::resources::register,
    )
    .await
    else {
        return;
    };
    let items = locked(&app, "LOCK TABLE items IN SHARE MODE").await;
    let body = json!({"name": "keyed", "description": "", "price": 1});
    let create = || {
        app.request(Method::POST, "/items/")
            .header("Idempotency-Key", "late-create")
            .json(&body)
            .send()
    };
    let started = Instant::now();
    let response = create().await.unwrap();
    assert_timed_out(response, started.elapsed()).await;
    items.commit().await.unwrap();
    let retried = create().await.unwrap();
    assert_eq!(retried.status(), 201);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.ids("/items/?name=keyed").await.len(), 1);
}

/// A transaction of another connection that has run `statement` (a lock it holds until it
/// ends).
async fn locked(app: &TestApp, statement: &str) -> DatabaseTransaction {
    let transaction = app.db().await.begin().await.unwrap();
    transaction.execute_unprepared(statement).await.unwrap();
    transaction
}
