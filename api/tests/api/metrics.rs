//! `/metrics`: Prometheus text whose per-route counters move as requests are answered.

use crate::helpers::binary::free_port;
use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(metrics_count_requests_by_route_and_status);

/// With `server.metrics_port`, `/metrics` is served there alone, and not on the API's port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_a_port_of_their_own_leave_the_api_port() {
    let port = free_port();
    let Some(app) = spawn_app_with(
        Backend::Sqlite,
        |settings| settings.server.metrics_port = port,
        api::resources::register,
    )
    .await
    else {
        return;
    };
    assert_eq!(app.get("/items/").await.status(), 200);
    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "not on the API's port"
    );
    let own = |path: &str| reqwest::get(format!("http://127.0.0.1:{port}{path}"));
    let metrics = own("/metrics").await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/items/",status="200"}"#),
        "{text}"
    );
    for path in ["/items/", "/health/ready", "/api-docs/openapi.json"] {
        assert_eq!(own(path).await.unwrap().status(), 404, "{path}");
    }
    // Nothing on the API's port points at it: neither `/` nor the OpenAPI document.
    let index = app.json("/").await;
    assert!(index.get("metrics").is_none(), "{index}");
    let document = app.json("/api-docs/openapi.json").await;
    assert!(document["paths"].get("/metrics").is_none());
    assert!(document["paths"].get("/health/ready").is_some());
}

/// Served beside the API (the default), `/metrics` is linked from `/` and documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_beside_the_api_are_linked_and_documented() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}, api::resources::register).await else {
        return;
    };
    let index = app.json("/").await;
    assert_eq!(index["metrics"], "/metrics");
    let document = app.json("/api-docs/openapi.json").await;
    assert_eq!(
        document["paths"]["/metrics"]["get"]["operationId"],
        "metrics"
    );
    assert_eq!(app.get("/metrics").await.status(), 200);
}

/// The value of the first series whose line starts with `prefix`, or 0.
fn value(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_count_requests_by_route_and_status(app: TestApp) {
    let item = app.create_item("Counted", 1.0).await;
    let series = r#"http_requests_total{method="GET",route="/items/{id}",status="200"}"#;
    let missing = r#"http_requests_total{method="GET",route="/items/{id}",status="404"}"#;
    let before = app.get("/metrics").await.text().await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/items/{}", item["id"])).await.status(),
            200
        );
    }
    assert_eq!(app.get("/items/999999").await.status(), 404);
    assert_eq!(app.get("/no/such/page/raw-path-label").await.status(), 404);
    let invented = reqwest::Method::from_bytes(b"M0042").unwrap();
    assert_eq!(
        app.request(invented, "/items/")
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let after = response.text().await.unwrap();
    assert!(
        value(&after, series) - value(&before, series) >= 3.0,
        "{series} did not move:\n{after}"
    );
    assert!(value(&after, missing) - value(&before, missing) >= 1.0);
    // (a word no number in the text can contain, as digits could)
    assert!(
        !after.contains("raw-path-label"),
        "raw paths never become labels"
    );
    assert!(after.contains(r#"route="unmatched""#));
    assert!(
        !after.contains("M0042"),
        "invented methods never become labels"
    );
    assert!(after.contains(r#"method="other",route="/items/",status="405""#));
    for expected in [
        "http_request_duration_seconds_bucket{",
        "http_requests_in_flight ",
        r#"db_pool_connections{state="max"}"#,
        r#"db_pool_connections{state="open"}"#,
        r#"db_pool_connections{state="waiting"}"#,
        "build_info{version=",
    ] {
        assert!(after.contains(expected), "{expected} missing");
    }
}
