//! ETags, If-None-Match, If-Match, and no lost updates under concurrency.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    if_none_match_gives_304,
    if_match_guards_every_write,
    preconditions_hold_on_reads_and_if_none_match_on_writes,
    concurrent_if_match_patches_lose_no_update,
);

async fn if_none_match_gives_304(app: TestApp) {
    let item = app.create_item("Cached", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    let etag = app.get(&path).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    for value in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"999\", {etag}"),
        "*".to_string(),
    ] {
        let response = app
            .request(Method::GET, &path)
            .header("if-none-match", &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304, "{value}");
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let head = app
        .request(Method::HEAD, &path)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 304);
    let stale = app
        .request(Method::GET, &path)
        .header("if-none-match", "\"999\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

async fn if_match_guards_every_write(app: TestApp) {
    let item = app.create_item("Guarded", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    let replace = json!({"name": "New", "description": "", "price": 2});
    // (an empty If-Match lists no tag: nothing matches it)
    for tag in ["\"2\"", "W/\"1\"", "garbage", "\"\"", "", " ", "*, \"2\""] {
        for (method, body) in [
            (Method::PUT, Some(&replace)),
            (Method::PATCH, Some(&json!({"price": 3}))),
            (Method::DELETE, None),
        ] {
            let mut request = app.request(method.clone(), &path).header("if-match", tag);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 412, "{method} If-Match: {tag}");
            assert!(response.json::<Value>().await.unwrap()["detail"].is_string());
        }
    }
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged, item, "a failed precondition changes nothing");

    let put = app
        .request(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&replace)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["etag"], "\"2\"");
    let patch = app
        .request(Method::PATCH, &path)
        .header("if-match", "\"1\", \"2\"")
        .json(&json!({"price": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200, "any listed tag may match");
    let star = app
        .request(Method::PATCH, &path)
        .header("if-match", "*")
        .json(&json!({"price": 6}))
        .send()
        .await
        .unwrap();
    assert_eq!(star.status(), 200);
    let missing = app
        .request(Method::PATCH, "/items/999999")
        .header("if-match", "*")
        .json(&json!({"price": 6}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let delete = app
        .request(Method::DELETE, &path)
        .header("if-match", "\"4\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
}

/// RFC 9110: `If-Match` holds on a GET too (412 when it names another version), and
/// `If-None-Match` on a write is 412 when it matches the row (`*`: any row).
async fn preconditions_hold_on_reads_and_if_none_match_on_writes(app: TestApp) {
    let item = app.create_item("Conditional", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    let get = |value: &'static str| {
        app.request(Method::GET, &path)
            .header("if-match", value)
            .send()
    };
    assert_eq!(get("\"1\"").await.unwrap().status(), 200);
    assert_eq!(get("*").await.unwrap().status(), 200);
    assert_eq!(get("\"7\"").await.unwrap().status(), 412);
    let expanded = app
        .request(Method::GET, &format!("{path}?expand=category"))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        expanded.status(),
        412,
        "an expanded row has its content's tag"
    );

    for (tag, method) in [
        ("*", Method::PATCH),
        ("\"1\"", Method::PATCH),
        ("W/\"1\"", Method::DELETE),
        ("\"5\", \"1\"", Method::PUT),
    ] {
        let response = app
            .request(method.clone(), &path)
            .header("if-none-match", tag)
            .json(&json!({"name": "Changed", "description": "", "price": 9}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 412, "{method} If-None-Match: {tag}");
    }
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged, item, "a failed precondition changes nothing");

    let other = app
        .request(Method::PATCH, &path)
        .header("if-none-match", "\"5\"")
        .json(&json!({"price": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        200,
        "a tag of another version does not match"
    );
    assert_eq!(other.headers()["etag"], "\"2\"");
    // The tag of an expanded read names the row's version to a write's If-Match and
    // If-None-Match alike: the row at version 2 matches it, so If-None-Match refuses and
    // If-Match (with any other If-None-Match) lets the write through.
    let expanded_tag = app.get(&format!("{path}?expand=category")).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(expanded_tag.starts_with("\"2.h"), "{expanded_tag}");
    let refused = app
        .request(Method::PATCH, &path)
        .header("if-none-match", format!("W/{expanded_tag}"))
        .json(&json!({"price": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 412);
    let both = app
        .request(Method::PATCH, &path)
        .header("if-match", &expanded_tag)
        .header("if-none-match", "\"1\"")
        .json(&json!({"price": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 200);
    assert_eq!(both.headers()["etag"], "\"3\"");
    let missing = app
        .request(Method::DELETE, "/items/999999")
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// 32 clients read the row, add one to its price with If-Match, and retry on 412. The final
/// price is the start plus the number of 200s: no update is lost.
async fn concurrent_if_match_patches_lose_no_update(app: TestApp) {
    let item = app.create_item("Counter", 0.0).await;
    let path = format!("/items/{}", item["id"]);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, url) = (app.client.clone(), app.url(&path));
        tasks.push(tokio::spawn(async move {
            let mut successes = 0u32;
            let mut conflicts = 0u32;
            for _attempt in 0..50 {
                let read = client.get(&url).send().await.unwrap();
                let etag = read.headers()["etag"].to_str().unwrap().to_string();
                let price = read.json::<Value>().await.unwrap()["price"]
                    .as_f64()
                    .unwrap();
                let response = client
                    .patch(&url)
                    .header("if-match", etag)
                    .json(&json!({"price": price + 1.0}))
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    200 => {
                        successes += 1;
                        break;
                    }
                    412 => conflicts += 1,
                    other => panic!(
                        "unexpected status {other}: {}",
                        response.text().await.unwrap()
                    ),
                }
            }
            (successes, conflicts)
        }));
    }
    let mut successes = 0;
    for task in tasks {
        successes += task.await.unwrap().0;
    }
    let final_item: Value = app.get(&path).await.json().await.unwrap();
    let lost = f64::from(successes) - final_item["price"].as_f64().unwrap();
    let report = format!(
        "concurrency: 32 If-Match writers, {successes} updates acknowledged, {lost} lost\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), report.as_bytes());
    assert_eq!(
        final_item["price"].as_f64().unwrap(),
        f64::from(successes),
        "lost an update"
    );
    assert!(successes > 0);
    let ready = app.get("/health/ready").await.status();
    assert_eq!(
        ready, 200,
        "the workers' kept connections leave one for readiness"
    );
}
