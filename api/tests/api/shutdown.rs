//! SIGTERM with requests in flight: they complete, then the process exits 0. The binary
//! itself runs, against PostgreSQL behind a proxy that slows every query down so requests
//! are surely in flight when the signal lands.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::binary::{free_port, start, wait_ready};
use crate::helpers::proxy::Proxy;
use crate::helpers::{Backend, TestDatabase, host_port, via};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let proxy = Proxy::start(host_port(&database.url)).await;
    let port = free_port();
    let through_proxy = via(&database.url, &format!("127.0.0.1:{}", proxy.port));
    let mut child = start(
        &through_proxy,
        port,
        &[("APP__DATABASE__MAX_CONNECTIONS", "40")],
    );
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &url).await;
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
    tokio::time::sleep(Duration::from_millis(150)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    for request in in_flight {
        assert_eq!(request.await.unwrap().expect("the request completed"), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
}
