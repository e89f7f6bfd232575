//! The request log, as operators read it: the binary with JSON logs writes one line per
//! request carrying tracing-actix-web's root span (method, route, request id, status) and latency, and writes
//! every pending line before it exits on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::binary::{free_port, start_with_output, wait_ready};
use crate::helpers::{Backend, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_one_json_line_with_its_span_and_latency() {
    let database = TestDatabase::create(Backend::Sqlite)
        .await
        .expect("SQLite is always there");
    let port = free_port();
    let mut child = start_with_output(
        &database.url,
        port,
        &[("APP__LOG__FORMAT", "json"), ("APP__LOG__LEVEL", "info")],
        Stdio::piped(),
    );
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &url).await;
    let missing = client
        .get(format!("{url}/items/999999"))
        .header("x-request-id", "log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let created = client
        .post(format!("{url}/items/"))
        .header("x-request-id", "log-test-2")
        .json(&serde_json::json!({"name": "log test", "description": "d", "price": 1.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let unrouted = client
        .get(format!("{url}/nowhere"))
        .header("x-request-id", "log-test-3")
        .send()
        .await
        .unwrap();
    assert_eq!(unrouted.status(), 404);

    // Lines are written in batches; SIGTERM must still get every one of them out.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let request = |id: &str| -> &Value {
        let found: Vec<&Value> = lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect();
        assert_eq!(found.len(), 1, "one line for {id} in:\n{output}");
        found[0]
    };

    let line = request("log-test-1");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["message"], "request completed");
    assert!(line["fields"]["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(line["span"]["name"], "HTTP request");
    assert_eq!(line["span"]["http.method"], "GET");
    assert_eq!(line["span"]["http.route"], "/items/{id}");
    assert_eq!(line["span"]["http.status_code"], 404);
    let timestamp = line["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );

    let line = request("log-test-2");
    assert_eq!(line["span"]["http.method"], "POST");
    assert_eq!(line["span"]["http.route"], "/items/");
    assert_eq!(line["span"]["http.status_code"], 201);

    let line = request("log-test-3");
    assert_eq!(line["span"]["http.route"], "default");
    assert_eq!(line["span"]["http.status_code"], 404);
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "the last line before exit is written:\n{output}"
    );
}
