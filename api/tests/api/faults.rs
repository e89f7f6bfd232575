//! Durability: writers create items while the server is killed with SIGKILL; after a restart
//! every item the server acknowledged (201) is there. The binary itself runs, on PostgreSQL
//! and on SQLite.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::binary::{free_port, start, wait_ready};
use crate::helpers::{Backend, TestDatabase};

async fn sigkill_loses_no_acknowledged_write(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut server = start(&database.url, port, &[]);
    wait_ready(&client, &url).await;

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (client, url, acknowledged) = (client.clone(), url.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let body =
                        json!({"name": format!("w{writer}-{n}"), "description": "", "price": 1});
                    let Ok(response) = client
                        .post(format!("{url}/items/"))
                        .json(&body)
                        .send()
                        .await
                    else {
                        break;
                    };
                    if response.status() != 201 {
                        break;
                    }
                    let Ok(item) = response.json::<Value>().await else {
                        break;
                    };
                    acknowledged
                        .lock()
                        .unwrap()
                        .push(item["id"].as_i64().unwrap());
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged: Vec<i64> = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "the writers got going: {}",
        acknowledged.len()
    );

    let mut server = start(&database.url, port, &[]);
    wait_ready(&client, &url).await;
    let mut stored = HashSet::new();
    let mut next = Some(format!("{url}/items/?cursor=&page_size=1000"));
    while let Some(page_url) = next {
        let page: Value = client
            .get(&page_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stored.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_i64().unwrap()),
        );
        next = page["next"].as_str().map(String::from);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    let report = format!(
        "durability ({backend:?}): {} writes acknowledged before SIGKILL, {} lost\n",
        acknowledged.len(),
        lost.len()
    );
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert!(lost.is_empty(), "lost acknowledged writes: {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write_postgres() {
    sigkill_loses_no_acknowledged_write(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write_sqlite() {
    sigkill_loses_no_acknowledged_write(Backend::Sqlite).await;
}
