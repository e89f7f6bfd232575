//! Request-level errors: media type, body size, malformed JSON. Every error body is JSON.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    wrong_or_missing_content_type_is_415,
    bodies_over_the_limit_are_413_declared_or_chunked,
    malformed_json_is_400_with_detail,
    errors_are_json_everywhere,
);

async fn wrong_or_missing_content_type_is_415(app: TestApp) {
    let item = app.create_item("x", 1.0).await;
    let detail = format!("/items/{}", item["id"]);
    let body = r#"{"name":"a","description":"","price":1}"#;
    for (method, path) in [
        (Method::POST, "/items/"),
        (Method::PUT, detail.as_str()),
        (Method::PATCH, detail.as_str()),
    ] {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/json-patch+json"),
            Some("application/json; charset=iso-8859-1"),
            Some("application/json; charset=\"UTF-16\""),
            None,
        ] {
            let mut request = app.request(method.clone(), path).body(body);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 415, "{method} {path} {content_type:?}");
            assert!(
                response.json::<Value>().await.unwrap()["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("Unsupported media type")
            );
        }
    }
    let with_charset = app
        .request(Method::POST, "/items/")
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(with_charset.status(), 201);
    let gzip = app
        .request(Method::POST, "/items/")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        gzip.status(),
        415,
        "a content coding is refused, not decoded"
    );
    assert_eq!(gzip.headers()["accept-encoding"], "identity");
    assert!(
        gzip.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported content encoding \"gzip\"")
    );
    let identity = app
        .request(Method::POST, "/items/")
        .header("content-type", "application/json; charset=UTF8")
        .header("content-encoding", "identity")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(identity.status(), 201);
    let vendor = app
        .request(Method::POST, "/items/")
        .header("content-type", "application/vnd.api+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(vendor.status(), 201);
}

async fn bodies_over_the_limit_are_413_declared_or_chunked(app: TestApp) {
    let big = format!(
        r#"{{"name":"a","description":"{}","price":1}}"#,
        "x".repeat(70_000)
    );
    // Declared: the answer comes before the body is read, on a raw connection (a client
    // library may see its write cut off instead of the answer).
    let declared = raw_request(
        &app,
        format!(
            "POST /items/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{big}",
            big.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared:.200}");
    let body = declared.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert!(
        serde_json::from_str::<Value>(body).unwrap()["detail"].is_string(),
        "{declared:.400}"
    );
    // Chunked: no Content-Length, the limit still holds.
    let mut request = String::from(
        "POST /items/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in big.as_bytes().chunks(1000) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    let response = raw_request(&app, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response:.200}");
    assert_eq!(
        app.get("/items/").await.json::<Value>().await.unwrap()["count"],
        0,
        "nothing was created"
    );
}

async fn malformed_json_is_400_with_detail(app: TestApp) {
    for body in [
        "{",
        "{\"name\": }",
        "nul",
        "{\"price\": 1e999}",
        "\u{feff}{}",
        &"[".repeat(10_000),
        // Whitespace is not JSON: only an empty body is an empty object.
        "\r",
        " \n\t",
    ] {
        let response = app
            .request(Method::POST, "/items/")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:.20}");
        let detail: Value = response.json().await.unwrap();
        assert!(
            detail["detail"]
                .as_str()
                .unwrap()
                .starts_with("JSON parse error"),
            "{detail}"
        );
    }
    // A PATCH whose body is whitespace changes nothing; an empty one is an empty change.
    let item = app.create_item("Kept", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    let etag = |response: &reqwest::Response| response.headers()["etag"].clone();
    let before = etag(&app.get(&path).await);
    let patch = |body: &'static str| {
        app.request(Method::PATCH, &path)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(patch("\r").await.unwrap().status(), 400);
    assert_eq!(etag(&app.get(&path).await), before, "nothing changed");
    assert_eq!(patch("").await.unwrap().status(), 200);
    for (body, message) in [
        ("[]", "Invalid data. Expected a dictionary, but got list."),
        (
            "\"text\"",
            "Invalid data. Expected a dictionary, but got str.",
        ),
        ("42", "Invalid data. Expected a dictionary, but got int."),
        ("4.5", "Invalid data. Expected a dictionary, but got float."),
        ("true", "Invalid data. Expected a dictionary, but got bool."),
        ("null", "No data provided"),
    ] {
        let response = app
            .request(Method::POST, "/items/")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let errors: Value = response.json().await.unwrap();
        assert_eq!(errors, json!({ "non_field_errors": [message] }), "{body}");
    }
}

async fn errors_are_json_everywhere(app: TestApp) {
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/health/live"),
        (Method::GET, "/items/x/y"),
        (Method::TRACE, "/items/"),
    ] {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert!(
            response.status().is_client_error(),
            "{method} {path}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].is_string(), "{method} {path}");
    }
}

/// A body that stops arriving is the client's delay: 408 within the request timeout, the
/// connection closed, nothing created.
#[tokio::test]
async fn a_body_that_stops_arriving_is_408() {
    let Some(app) = spawn_app_with(
        Backend::Sqlite,
        |settings| settings.server.request_timeout_ms = 500,
        api::resources::register,
    )
    .await
    else {
        return;
    };
    let started = std::time::Instant::now();
    let response = raw_request(
        &app,
        b"POST /items/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"na",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("did not arrive in time"), "{response}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let page: Value = app.get("/items/").await.json().await.unwrap();
    assert_eq!(page["count"], 0);
}

/// Writes `request` on a fresh connection and reads what comes back until the server closes.
async fn raw_request(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    // The server may answer 413 and close before reading everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}
