//! Token authentication, permission policies, throttling, idempotency keys, CORS and the
//! request timeout.

use std::time::{Duration, Instant};

use api::settings::Settings;
use domain::auth::Permission;
use infrastructure::Secret;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::for_each_backend;
use crate::helpers::proxy::Proxy;
use crate::helpers::{Backend, TestApp, admin_url, host_port, spawn_app_with, via};

fn item() -> Value {
    json!({"name": "Guarded", "description": "", "price": 1})
}

async fn spawn(backend: Backend, customize: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    spawn_app_with(backend, customize, api::resources::register).await
}

async fn token(app: &TestApp, name: &str) -> String {
    infrastructure::tokens::create(&app.handle().await, name)
        .await
        .unwrap()
        .1
}

async fn post(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.request(Method::POST, "/items/").json(&item());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

for_each_backend!(
    read_only_unless_authenticated,
    authenticated_policy_guards_reads_too,
    invalid_credentials_are_401_even_where_none_are_needed,
    tokens_are_stored_hashed,
    a_prefix_of_digits_revokes_that_token_not_an_id,
    the_sixth_request_at_five_per_minute_is_throttled,
    idempotency_keys_replay_and_refuse_mismatches,
    concurrent_posts_with_one_key_create_one_row,
    a_start_deletes_expired_idempotency_keys,
    cors_answers_allowed_origins_only
);

async fn read_only_unless_authenticated(backend: Backend) {
    let Some(app) = spawn(backend, |s| {
        s.auth.permission = Permission::ReadOnlyUnlessAuthenticated
    })
    .await
    else {
        return;
    };
    assert_eq!(
        app.get("/items/").await.status(),
        200,
        "reads need no token"
    );
    let anonymous = post(&app, None).await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("Token")
    );
    assert_eq!(
        anonymous.json::<Value>().await.unwrap()["detail"],
        "Authentication credentials were not provided."
    );

    let key = token(&app, "writer").await;
    assert_eq!(
        post(&app, Some(&format!("Token {key}"))).await.status(),
        201
    );
    assert_eq!(
        post(&app, Some(&format!("Bearer {key}"))).await.status(),
        201
    );
    assert_eq!(
        post(&app, Some(&format!("bearer   {key}"))).await.status(),
        201,
        "scheme case and spacing"
    );

    let prefix = key.split('.').next().unwrap();
    assert!(
        infrastructure::tokens::revoke(&app.handle().await, prefix)
            .await
            .unwrap()
    );
    let revoked = post(&app, Some(&format!("Token {key}"))).await;
    assert_eq!(revoked.status(), 401, "a revoked token is refused at once");
    assert_eq!(
        revoked.json::<Value>().await.unwrap()["detail"],
        "Invalid token."
    );
    let page: Value = app.get("/items/").await.json().await.unwrap();
    assert_eq!(page["count"], 3, "refused writes created nothing");
}

async fn authenticated_policy_guards_reads_too(backend: Backend) {
    let Some(app) = spawn(backend, |s| s.auth.permission = Permission::Authenticated).await else {
        return;
    };
    assert_eq!(app.get("/items/").await.status(), 401);
    assert_eq!(
        app.request(Method::OPTIONS, "/items/")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        app.get("/health/ready").await.status(),
        200,
        "health needs no token"
    );
    assert_eq!(
        app.get("/api-docs/openapi.json").await.status(),
        200,
        "nor the docs"
    );
    let key = token(&app, "reader").await;
    let response = app
        .request(Method::GET, "/items/")
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spec: Value = app.json("/api-docs/openapi.json").await;
    assert_eq!(
        spec["paths"]["/items/"]["get"]["security"],
        json!([{"TokenAuth": []}, {"BearerAuth": []}])
    );
    assert!(spec["components"]["securitySchemes"]["BearerAuth"].is_object());
}

async fn invalid_credentials_are_401_even_where_none_are_needed(backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else {
        return;
    };
    // DRF's texts.
    let headers: [(&[u8], &str); 5] = [
        (b"Token nope", "Invalid token."),
        (b"Token 0123456789ab.wrongsecret", "Invalid token."),
        (b"Bearer", "Invalid token header. No credentials provided."),
        (
            b"Token a b",
            "Invalid token header. Token string should not contain spaces.",
        ),
        (
            b"Token \xff",
            "Invalid token header. Token string should not contain invalid characters.",
        ),
    ];
    for (header, detail) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(header).unwrap();
        let request = app
            .request(Method::GET, "/items/")
            .header("authorization", value);
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({ "detail": detail }),
            "{header:?}"
        );
    }
    let basic = app
        .request(Method::GET, "/items/")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200, "another scheme is simply anonymous");
    let spec: Value = app.json("/api-docs/openapi.json").await;
    assert_eq!(
        spec["paths"]["/items/"]["post"]["security"][0],
        json!({}),
        "the token is optional under allow_any"
    );
}

async fn tokens_are_stored_hashed(backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else {
        return;
    };
    let key = token(&app, "secret-keeper").await;
    let db = app.db().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT name, prefix, key_hash FROM tokens",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for column in ["name", "prefix", "key_hash"] {
        let value: String = rows[0].try_get("", column).unwrap();
        assert!(
            !value.contains(&key) && !key.ends_with(&value),
            "{column} holds the key"
        );
    }
    let secret = key.split('.').nth(1).unwrap();
    let hash: String = rows[0].try_get("", "key_hash").unwrap();
    assert!(!hash.contains(secret));
    assert_eq!(hash, domain::auth::hash_key(&key), "the key's SHA-256, hex");
}

/// Prefixes are random hex, so some are all digits: `token revoke 000000000001` means that
/// prefix, never the token whose id is 1.
async fn a_prefix_of_digits_revokes_that_token_not_an_id(backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else {
        return;
    };
    let first = token(&app, "first").await;
    token(&app, "second").await;
    let db = app.db().await;
    db.execute_unprepared("UPDATE tokens SET prefix = '000000000001' WHERE name = 'second'")
        .await
        .unwrap();
    let handle = app.handle().await;
    assert!(
        infrastructure::tokens::revoke(&handle, "000000000001")
            .await
            .unwrap()
    );
    assert_eq!(
        post(&app, Some(&format!("Token {first}"))).await.status(),
        201,
        "the token with id 1 is still active"
    );
    assert!(
        !infrastructure::tokens::revoke(&handle, "000000000001")
            .await
            .unwrap()
    );
    assert!(
        infrastructure::tokens::revoke(&handle, "1").await.unwrap(),
        "by id"
    );
    assert_eq!(
        post(&app, Some(&format!("Token {first}"))).await.status(),
        401
    );
}

async fn the_sixth_request_at_five_per_minute_is_throttled(backend: Backend) {
    let Some(app) = spawn(backend, |s| {
        s.throttle.enabled = true;
        s.throttle.anon = "5/minute".parse().unwrap();
        s.throttle.user = "2/minute".parse().unwrap();
    })
    .await
    else {
        return;
    };
    for i in 0..5 {
        assert_eq!(app.get("/items/").await.status(), 200, "request {i}");
    }
    let throttled = app.get("/items/").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&wait), "Retry-After: {wait}");
    let detail = throttled.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.starts_with("Request was throttled. Expected available in"),
        "{detail}"
    );
    assert_eq!(
        app.get("/health/live").await.status(),
        200,
        "health is never throttled"
    );
    let key = token(&app, "busy").await;
    let with_token = |app: &TestApp| {
        app.request(Method::GET, "/items/")
            .header("authorization", format!("Token {key}"))
            .send()
    };
    assert_eq!(
        with_token(&app).await.unwrap().status(),
        200,
        "a token has its own rate"
    );
    assert_eq!(with_token(&app).await.unwrap().status(), 200);
    assert_eq!(with_token(&app).await.unwrap().status(), 429);
}

async fn stored_keys(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM idempotency_keys").await
}

/// Expired keys go at every start, before serving (then every hour).
async fn a_start_deletes_expired_idempotency_keys(backend: Backend) {
    let Some(first) = spawn(backend, |settings| settings.idempotency.ttl_secs = 1).await else {
        return;
    };
    let created = first
        .request(Method::POST, "/items/")
        .header("idempotency-key", "soon-expired")
        .json(&item())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(stored_keys(&first).await, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        stored_keys(&first).await,
        1,
        "kept until a housekeeping round"
    );
    let url = first.database_url.clone();
    let second = spawn(backend, move |settings| {
        settings.database.url = Secret::new(url);
    })
    .await
    .unwrap();
    assert_eq!(stored_keys(&first).await, 0, "deleted by the second start");
    drop(second);
}

async fn idempotency_keys_replay_and_refuse_mismatches(backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else {
        return;
    };
    let send = |key: &'static str, body: Value| {
        app.request(Method::POST, "/items/")
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send("order-1", item()).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let body: Value = first.json().await.unwrap();
    let retry = send("order-1", item()).await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["location"], location);
    assert_eq!(
        retry.json::<Value>().await.unwrap(),
        body,
        "the first response, replayed"
    );
    // The same JSON spelled otherwise (key order, spacing) is the same request.
    let mut respelled = String::from("{ ");
    let fields = item();
    let mut pairs: Vec<_> = fields.as_object().unwrap().iter().collect();
    pairs.reverse();
    let pairs: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("\"{k}\" :  {v}"))
        .collect();
    respelled.push_str(&pairs.join(" ,\n"));
    respelled.push_str(" }");
    let again = app
        .request(Method::POST, "/items/")
        .header("idempotency-key", "order-1")
        .header("content-type", "application/json")
        .body(respelled)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let other = send(
        "order-1",
        json!({"name": "Other", "description": "", "price": 2}),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), 422);
    let invalid = send("order-2", json!({"name": ""})).await.unwrap();
    assert_eq!(invalid.status(), 400);
    let invalid_again = send("order-2", json!({"name": ""})).await.unwrap();
    assert_eq!(
        invalid_again.status(),
        400,
        "a refused request is replayed as refused"
    );
    assert_eq!(invalid_again.headers()["idempotent-replayed"], "true");
    let bad_key = app
        .request(Method::POST, "/items/")
        .header("idempotency-key", "x".repeat(256))
        .json(&item())
        .send();
    assert_eq!(bad_key.await.unwrap().status(), 400);
    // Two keys in one request: neither is taken (a proxy might have read the other), nothing
    // is created.
    let before = app.ids("/items/?page_size=1000").await.len();
    let two_keys = app
        .request(Method::POST, "/items/")
        .header("idempotency-key", "order-3")
        .header("idempotency-key", "order-4")
        .json(&item())
        .send()
        .await
        .unwrap();
    assert_eq!(two_keys.status(), 400);
    assert_eq!(
        two_keys.json::<Value>().await.unwrap(),
        json!({"detail": "Idempotency-Key must be one header of 1 to 255 visible ASCII characters."})
    );
    assert_eq!(app.ids("/items/?page_size=1000").await.len(), before);
    // Keys are scoped to the caller: the same key from a token is another key.
    let key = token(&app, "scoped").await;
    let scoped = app
        .request(Method::POST, "/items/")
        .header("idempotency-key", "order-1")
        .header("authorization", format!("Token {key}"))
        .json(&item())
        .send()
        .await
        .unwrap();
    assert_eq!(scoped.status(), 201);
    assert!(scoped.headers().get("idempotent-replayed").is_none());
    let page: Value = app.get("/items/").await.json().await.unwrap();
    assert_eq!(
        page["count"], 2,
        "one item per scope, none for the refused bodies"
    );
}

/// 16 concurrent POSTs with one key: exactly one row; every answer is that row (201) or
/// "still in flight" (409, with when to retry).
async fn concurrent_posts_with_one_key_create_one_row(backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else {
        return;
    };
    let requests: Vec<_> = (0..16)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/items/"))
                .header("idempotency-key", "once")
                .json(&item());
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let retry_after = response.headers().get("retry-after").cloned();
                (status, retry_after, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut created = Vec::new();
    for request in requests {
        let (status, retry_after, body) = request.await.unwrap();
        match status {
            201 => created.push(body["id"].clone()),
            409 => assert_eq!(retry_after.unwrap(), "1", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|id| *id == created[0]),
        "every 201 is the same row: {created:?}"
    );
    let page: Value = app.get("/items/").await.json().await.unwrap();
    assert_eq!(page["count"], 1, "exactly one row");
}

async fn cors_answers_allowed_origins_only(backend: Backend) {
    let Some(app) = spawn(backend, |s| {
        s.cors.allowed_origins = vec!["https://app.example".into()]
    })
    .await
    else {
        return;
    };
    let preflight = app
        .request(Method::OPTIONS, "/items/")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, if-match")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let simple = app
        .request(Method::GET, "/items/")
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        simple.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase()
            .contains("etag")
    );
    let foreign = app
        .request(Method::GET, "/items/")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // A refused preflight reads as every other error: JSON with `detail`.
    let refused = app
        .request(Method::OPTIONS, "/items/")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("Origin"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_timeout_answer_503() {
    let proxy = Proxy::start(host_port(&admin_url())).await;
    let through = format!("127.0.0.1:{}", proxy.port);
    let Some(app) = spawn(Backend::Postgres, |s| {
        s.database.url = Secret::new(via(s.database.url.expose(), &through));
        s.server.request_timeout_ms = 300;
    })
    .await
    else {
        return;
    };
    let item = app.create_item("Slow", 1.0).await;
    proxy.set_delay(Duration::from_millis(600));
    let started = Instant::now();
    let response = app.get(&format!("/items/{}", item["id"])).await;
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        response.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("too long")
    );
    proxy.set_delay(Duration::ZERO);
    let started = Instant::now();
    while app.get(&format!("/items/{}", item["id"])).await.status() != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no recovery after the timeout"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
