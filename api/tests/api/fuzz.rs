//! Property tests over the request parsing surface of the live server: random query
//! strings (filters, ordering, cursors, page numbers) and random JSON bodies never crash
//! it and never get a 5xx; invalid input gets a 4xx with a JSON body.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app};

fn query_pair() -> impl Strategy<Value = (String, String)> {
    let key = prop_oneof![
        Just("page"),
        Just("page_size"),
        Just("limit"),
        Just("offset"),
        Just("cursor"),
        Just("count"),
        Just("ordering"),
        Just("search"),
        Just("price__gte"),
        Just("price"),
        Just("id__in"),
        Just("id"),
        Just("in_stock"),
        Just("name"),
        Just("name__icontains"),
        Just("created_at__gte"),
        Just("updated_at__lt"),
        Just("unknown"),
    ];
    let value = prop_oneof![
        "\\PC{0,30}",
        "-?[0-9]{1,22}(\\.[0-9]{1,4})?(e[0-9]{1,3})?",
        "(-?(id|name|price|in_stock|created_at|secret),?){1,4}",
        "[A-Za-z0-9_-]{0,80}",
        Just("%00".to_string()),
        Just("NaN".to_string()),
    ];
    (key.prop_map(String::from), value)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("name".to_string()),
                    Just("description".to_string()),
                    Just("price".to_string()),
                    Just("in_stock".to_string()),
                    Just("id".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn check(status: u16, content_type: Option<&str>, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{what}: status {status}");
    if status >= 400 {
        prop_assert_eq!(
            content_type,
            Some("application/json"),
            "{}: error body type",
            what
        );
    }
    Ok(())
}

fn fuzz(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(app): Option<TestApp> = runtime.block_on(async {
        let app = spawn_app(backend).await?;
        app.create_item("seed", 1.0).await;
        Some(app)
    }) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(query_pair(), 0..6), |pairs| {
            let query: String = pairs.iter().map(|(k, v)| format!("{k}={v}&")).collect();
            let (status, content_type) = runtime.block_on(async {
                let response = app.get(&format!("/items/?{query}")).await;
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                (response.status().as_u16(), content_type)
            });
            check(status, content_type.as_deref(), &query)
        })
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(
                json_value(),
                prop_oneof![Just(Method::POST), Just(Method::PUT), Just(Method::PATCH)],
            ),
            |(body, method)| {
                let path = if method == Method::POST {
                    "/items/"
                } else {
                    "/items/1"
                };
                let (status, content_type) = runtime.block_on(async {
                    let response = app.send_json(method.clone(), path, &body).await;
                    let content_type = response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    (response.status().as_u16(), content_type)
                });
                check(status, content_type.as_deref(), &format!("{method} {body}"))
            },
        )
        .unwrap();
}

#[test]
fn hostile_requests_never_get_a_server_error_postgres() {
    fuzz(Backend::Postgres);
}

#[test]
fn hostile_requests_never_get_a_server_error_sqlite() {
    fuzz(Backend::Sqlite);
}
