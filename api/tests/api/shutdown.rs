//! SIGTERM with requests in flight: they complete, then the process exits 0. The binary
//! itself runs, against PostgreSQL behind a proxy that slows every query down so requests
//! are surely in flight when the signal lands. With `server.shutdown_delay_ms`, clients are
//! first turned away without being cut off.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::binary::{free_port, start, start_with_output, wait_ready};
use crate::helpers::proxy::Proxy;
use crate::helpers::{Backend, TestDatabase, host_port, via};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let Some(Served {
        _database,
        proxy,
        mut child,
        client,
        url,
    }) = serve_behind_proxy(&[("APP__DATABASE__MAX_CONNECTIONS", "40")]).await
    else {
        return;
    };
    // Open 32 pooled connections before slowing the database down.
    let warm: Vec<_> = (0..32)
        .map(|_| client.get(format!("{url}/items/?page_size=1")).send())
        .collect();
    for response in futures_util::future::join_all(warm).await {
        assert_eq!(response.unwrap().status(), 200);
    }

    proxy.set_delay(Duration::from_millis(300));
    let in_flight: Vec<_> = (0..32)
        .map(|i| {
            let client = client.clone();
            let url = format!("{url}/items/?page_size={}", i + 1);
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    until_in_flight(&client, &url, 32).await;
    signal(&child);

    for request in in_flight {
        assert_eq!(request.await.unwrap().expect("the request completed"), 200);
    }
    let exit = wait_exit(&mut child).await;
    assert!(exit.success(), "exit status {exit}");
}

/// The binary, ready, on a fresh PostgreSQL database reached through a proxy the test
/// controls (to slow statements down).
struct Served {
    _database: TestDatabase,
    proxy: Proxy,
    child: Child,
    client: reqwest::Client,
    url: String,
}

async fn serve_behind_proxy(env: &[(&str, &str)]) -> Option<Served> {
    serve_behind_proxy_logging(env, Stdio::null()).await
}

/// The same, with the logs (standard output) going to `stdout`.
async fn serve_behind_proxy_logging(env: &[(&str, &str)], stdout: Stdio) -> Option<Served> {
    let database = TestDatabase::create(Backend::Postgres).await?;
    let proxy = Proxy::start(host_port(&database.url)).await;
    let port = free_port();
    let through_proxy = via(&database.url, &format!("127.0.0.1:{}", proxy.port));
    let child = start_with_output(&through_proxy, port, env, stdout);
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &url).await;
    Some(Served {
        _database: database,
        proxy,
        child,
        client,
        url,
    })
}

fn signal(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One HTTP/1.1 GET on an open connection: the status and the response's head, lower-cased.
/// Every answer here carries a Content-Length.
async fn get(stream: &mut TcpStream, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "the connection closed before the answer was complete"
        );
        received.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&received).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_string();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |n| n.trim().parse().unwrap());
            if received.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                return (status, head);
            }
        }
    }
}

/// SIGTERM with `server.shutdown_delay_ms`: for the delay, `/health/ready` answers 503 and
/// the server keeps answering, on connections opened before the signal and on new ones, with
/// `Connection: close` on every response and the connection then closed by the server, so a
/// keep-alive client is never cut off with a request on the wire. A second signal ends the
/// delay; the process then exits 0 and accepts nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_clients_away_during_the_delay_then_stops() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let port = free_port();
    let mut child = start(
        &database.url,
        port,
        &[("APP__SERVER__SHUTDOWN_DELAY_MS", "60000")],
    );
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &url).await;
    let address = format!("127.0.0.1:{port}");
    let mut before = TcpStream::connect(&address).await.unwrap();
    let (status, head) = get(&mut before, "/items/").await;
    assert_eq!(status, 200);
    assert!(!head.contains("connection: close"), "{head}");

    signal(&child);
    let started = Instant::now();
    loop {
        let response = reqwest::Client::new()
            .get(format!("{url}/health/ready"))
            .send()
            .await
            .expect("still accepting during the delay");
        if response.status() == 503 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["detail"], "The server is shutting down.");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "readiness kept 200"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let live = client
        .get(format!("{url}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    // The connection opened before the signal: answered, told it closes, then closed.
    let (status, head) = get(&mut before, "/items/").await;
    assert_eq!(status, 200);
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = [0u8; 16];
    let eof = tokio::time::timeout(Duration::from_secs(5), before.read(&mut rest)).await;
    assert!(matches!(eof, Ok(Ok(0))), "the server closed it: {eof:?}");
    // A new connection is still accepted and answered, the same way.
    let mut after = TcpStream::connect(&address).await.unwrap();
    let (status, head) = get(&mut after, "/items/").await;
    assert_eq!(status, 200);
    assert!(head.contains("connection: close"), "{head}");
    assert!(child.try_wait().unwrap().is_none(), "still serving");

    signal(&child);
    let exit = wait_exit(&mut child).await;
    assert!(exit.success(), "exit status {exit}");
    assert!(TcpStream::connect(&address).await.is_err());
}

/// A further signal while in-flight requests drain stops at once (Ctrl-C twice), with a
/// non-zero exit, rather than waiting `server.shutdown_timeout_secs` for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_signal_while_draining_stops_at_once() {
    let Some(Served {
        _database,
        proxy,
        mut child,
        client,
        url,
    }) = serve_behind_proxy(&[
        ("APP__SERVER__SHUTDOWN_TIMEOUT_SECS", "60"),
        ("APP__DATABASE__STATEMENT_TIMEOUT_MS", "0"),
        ("APP__SERVER__REQUEST_TIMEOUT_MS", "120000"),
    ])
    .await
    else {
        return;
    };
    assert_eq!(
        client
            .get(format!("{url}/items/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Every statement now waits a minute: the request below stays in flight.
    proxy.set_delay(Duration::from_secs(60));
    let slow = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(format!("{url}/items/")).send().await }
    });
    until_in_flight(&client, &url, 1).await;
    signal(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().unwrap().is_none(), "draining, not stopped");
    let started = Instant::now();
    signal(&child);
    let exit = wait_exit(&mut child).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !exit.success(),
        "a cut-off drain is not a clean exit: {exit}"
    );
    assert!(
        slow.await.unwrap().is_err(),
        "the request in flight was cut off"
    );
}

/// A drain that runs past `server.shutdown_timeout_secs` cuts the requests still in flight
/// off, and says how many in a WARN line: an operator sees that requests were dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_past_its_timeout_says_how_many_requests_it_cut_off() {
    let Some(Served {
        _database,
        proxy,
        mut child,
        client,
        url,
    }) = serve_behind_proxy_logging(
        &[
            ("APP__SERVER__SHUTDOWN_TIMEOUT_SECS", "1"),
            ("APP__DATABASE__STATEMENT_TIMEOUT_MS", "0"),
            ("APP__SERVER__REQUEST_TIMEOUT_MS", "120000"),
            ("APP__LOG__FORMAT", "json"),
        ],
        Stdio::piped(),
    )
    .await
    else {
        return;
    };
    // Connections opened and leased before the database slows down (as in the test above).
    for _ in 0..2 {
        let warm = client.get(format!("{url}/items/")).send().await.unwrap();
        assert_eq!(warm.status(), 200);
    }
    proxy.set_delay(Duration::from_secs(60));
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            let url = format!("{url}/items/");
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    until_in_flight(&client, &url, 2).await;
    signal(&child);
    let exit = wait_exit(&mut child).await;
    assert!(exit.success(), "exit status {exit}");
    for request in slow {
        match request.await.unwrap() {
            Err(_) => {}
            Ok(response) => panic!(
                "not cut off: {} {:?}",
                response.status(),
                response.text().await
            ),
        }
    }
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut logs).unwrap();
    let warning = logs
        .lines()
        .find(|line| line.contains("cut off at server.shutdown_timeout_secs"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(
        warning.contains("\"requests\":2") && warning.contains("WARN"),
        "{warning}"
    );
}

/// Waits until the binary is answering `requests` requests besides the scrape that asks
/// (`http_requests_in_flight`, exact: the binary is a process of its own), at most 10 s: a
/// signal sent then finds them in flight, whatever the machine's speed.
async fn until_in_flight(client: &reqwest::Client, url: &str, requests: i64) {
    let started = Instant::now();
    loop {
        let text = client
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let in_flight: i64 = text
            .lines()
            .find_map(|line| line.strip_prefix("http_requests_in_flight "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        if in_flight > requests {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{in_flight} in flight, waiting for {requests} and the scrape"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
