use serde_json::Value;

use crate::on_both_databases;

on_both_databases!(
    liveness_and_readiness_answer_200,
    every_response_carries_a_request_id
);

async fn liveness_and_readiness_answer_200(app: crate::helpers::TestApp) {
    for path in ["/health/live", "/health/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok", "{path}");
    }
}

async fn every_response_carries_a_request_id(app: crate::helpers::TestApp) {
    let generated = app.get("/items/").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!id.is_empty());
    let other = app.get("/nowhere").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(id, other, "ids are unique");

    let echoed = app
        .request(reqwest::Method::GET, "/items/")
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42");

    for bad in ["has space".to_string(), "x".repeat(129)] {
        let response = app
            .request(reqwest::Method::GET, "/items/")
            .header("x-request-id", bad.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "a bad id is never an error");
        assert_ne!(
            response.headers()["x-request-id"],
            bad.as_str(),
            "a bad id is replaced"
        );
    }
}
