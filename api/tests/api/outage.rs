//! The database goes away and comes back: requests answer 503 within the acquire timeout
//! (never hang, never 500), readiness fails while liveness holds, and the service recovers
//! by itself. A TCP proxy the test controls stands between the app and PostgreSQL.

use std::time::{Duration, Instant};

use infrastructure::Secret;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::proxy::Proxy;
use crate::helpers::{Backend, TestApp, admin_url, host_port, spawn_app_with, via};

async fn spawn_behind_proxy() -> Option<(TestApp, Proxy)> {
    let proxy = Proxy::start(host_port(&admin_url())).await;
    let through_proxy = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_with(
        Backend::Postgres,
        |settings| {
            settings.database.url =
                Secret::new(via(settings.database.url.expose(), &through_proxy));
            settings.database.acquire_timeout_ms = 1000;
            settings.database.connect_timeout_ms = 1000;
            settings.server.readiness_timeout_ms = 500;
        },
        api::resources::register,
    )
    .await?;
    Some((app, proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_gives_503_within_the_timeout_and_recovers_by_itself() {
    let Some((app, proxy)) = spawn_behind_proxy().await else {
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
