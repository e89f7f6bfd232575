//! The documentation surface beyond the document itself: `api openapi` and ReDoc.
//! Neither depends on the database, so these run on SQLite only.

use std::process::Command;

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

const REDOC_BUNDLE: &[u8] = include_bytes!("../../static/redoc/redoc.standalone.js");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_command_prints_the_served_document() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let mut served: Value = app.json("/api-docs/openapi.json").await;

    // The test's configuration, as the served app has it; no database anywhere.
    let workdir = tempfile::tempdir().unwrap();
    let openapi = |environment: &str| {
        Command::new(env!("CARGO_BIN_EXE_api"))
            .arg("openapi")
            .env_clear()
            .env(
                "APP_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
            )
            .env("APP_ENV", environment)
            .current_dir(workdir.path())
            .output()
            .unwrap()
    };
    let output = openapi("test");
    assert!(
        output.status.success(),
        "api openapi failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut printed: Value =
        serde_json::from_slice(&output.stdout).expect("standard output is the document alone");
    assert_eq!(
        std::fs::read_dir(workdir.path()).unwrap().count(),
        0,
        "api openapi created files (a database?)"
    );

    for document in [&mut served, &mut printed] {
        document.as_object_mut().unwrap().remove("servers");
    }
    assert_eq!(
        printed["paths"]["/items/"]["get"]["operationId"],
        "items_list"
    );
    assert_eq!(printed, served);

    // Production without a database URL: the document needs none.
    let production = openapi("production");
    assert!(
        production.status.success(),
        "api openapi in production: {}",
        String::from_utf8_lossy(&production.stderr)
    );
    assert_eq!(std::fs::read_dir(workdir.path()).unwrap().count(), 0);
}

/// The values of every `src="..."` and `href="..."` attribute in `html`.
fn urls(html: &str) -> Vec<&str> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.split(attribute).skip(1))
        .map(|rest| &rest[..rest.find('"').unwrap_or(rest.len())])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redoc_is_served_by_the_service_itself() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let mut scripts = Vec::new();
    for path in ["/redoc", "/redoc/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "img-src 'self' data:",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("http"), "{path}: no other origin in {csp}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("<redoc spec-url=\"/api-docs/openapi.json\">"),
            "{path}"
        );
        for url in urls(&page) {
            assert!(
                url.starts_with('/') && !url.starts_with("//"),
                "{path} refers to another origin: {url}"
            );
        }
        assert!(!page.contains("://"), "{path} names an absolute URL");
        scripts = urls(&page)
            .into_iter()
            .filter(|url| url.contains(".js"))
            .map(String::from)
            .collect();
        assert_eq!(scripts.len(), 1, "{path}: one script, ReDoc's");
    }

    let response = app.get(&scripts[0]).await;
    assert_eq!(response.status(), 200, "{}", scripts[0]);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let bundle = response.bytes().await.unwrap();
    assert!(bundle == REDOC_BUNDLE, "the vendored bundle, whole");

    let index: Value = app.get("/").await.json().await.unwrap();
    assert_eq!(index["docs"]["redoc"], "/redoc");
    assert_eq!(index["docs"]["swagger_ui"], "/swagger-ui/");
}

/// The service's own routes answer HEAD as GET without the body, and other methods with
/// 405 and `Allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_routes_answer_head_and_405() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for path in [
        "/",
        "/api-docs/openapi.json",
        "/swagger-ui/",
        "/swagger-ui/swagger-ui.css",
        "/redoc",
        "/redoc/",
        "/redoc/redoc.standalone.js",
        "/metrics",
        "/health/live",
        "/health/ready",
    ] {
        let get = app.get(path).await;
        assert_eq!(get.status(), 200, "GET {path}");
        let head = app
            .request(reqwest::Method::HEAD, path)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
        let post = app
            .request(reqwest::Method::POST, path)
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 405, "POST {path}");
        assert_eq!(post.headers()["allow"], "GET, HEAD", "POST {path}");
        let body: Value = post.json().await.unwrap();
        assert!(body["detail"].is_string(), "POST {path}: {body}");
    }
}

/// What any operation of a resource can answer is documented on every one: a `Host` the
/// service does not answer to (400 with `detail`), and 503 with `Retry-After`; a create
/// declares the header of a replayed response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_the_answers_all_share() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let document: Value = app.json("/api-docs/openapi.json").await;
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/items") && !path.starts_with("/categories") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let bad = responses["400"]["content"]["application/json"]["schema"].to_string();
            assert!(bad.contains("ErrorDetail"), "{method} {path}: 400 {bad}");
            assert!(
                responses["503"]["headers"]["Retry-After"].is_object(),
                "{method} {path}: 503"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} operations");
    for path in ["/items/", "/categories/", "/categories/{parent}/items/"] {
        let created = &document["paths"][path]["post"]["responses"]["201"]["headers"];
        assert!(created["Idempotent-Replayed"].is_object(), "{path}");
    }

    let refused = app
        .request(reqwest::Method::OPTIONS, "/items/")
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.json::<Value>().await.unwrap()["detail"].is_string());
}
