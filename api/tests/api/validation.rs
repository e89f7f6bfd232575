//! Every validation rule of Item, table-driven: each case names what it checks, the body,
//! and the field its error must be keyed by.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    invalid_create_bodies_are_400_per_field,
    invalid_patch_bodies_are_400_per_field,
    boundaries_are_accepted,
    the_acceptance_example_reports_three_fields
);

fn valid() -> serde_json::Map<String, Value> {
    json!({"name": "Valid", "description": "ok", "price": 1.0, "in_stock": true})
        .as_object()
        .unwrap()
        .clone()
}

fn with(field: &str, value: Value) -> Value {
    let mut body = valid();
    body.insert(field.into(), value);
    Value::Object(body)
}

fn without(field: &str) -> Value {
    let mut body = valid();
    body.remove(field);
    Value::Object(body)
}

/// (what it checks, body, field, expected message)
fn create_cases() -> Vec<(&'static str, Value, &'static str, String)> {
    vec![
        (
            "name is required",
            without("name"),
            "name",
            "This field is required.".into(),
        ),
        (
            "description is required",
            without("description"),
            "description",
            "This field is required.".into(),
        ),
        (
            "price is required",
            without("price"),
            "price",
            "This field is required.".into(),
        ),
        (
            "name may not be empty",
            with("name", json!("")),
            "name",
            "This field may not be blank.".into(),
        ),
        (
            "name may not be only spaces",
            with("name", json!("   ")),
            "name",
            "This field may not be blank.".into(),
        ),
        (
            "name has at most 100 characters",
            with("name", json!("x".repeat(101))),
            "name",
            "Ensure this field has no more than 100 characters.".into(),
        ),
        (
            "description has at most 10000 characters",
            with("description", json!("x".repeat(10_001))),
            "description",
            "Ensure this field has no more than 10000 characters.".into(),
        ),
        (
            "price may not be negative",
            with("price", json!(-0.01)),
            "price",
            "Ensure this value is greater than or equal to 0.".into(),
        ),
        (
            "price is a JSON number, not a string",
            with("price", json!("12.5")),
            "price",
            "A valid number is required.".into(),
        ),
        (
            "price may not be null",
            with("price", Value::Null),
            "price",
            "This field may not be null.".into(),
        ),
        (
            "price is not a boolean",
            with("price", json!(true)),
            "price",
            "A valid number is required.".into(),
        ),
        (
            "in_stock is a JSON boolean, not a string",
            with("in_stock", json!("yes")),
            "in_stock",
            "Must be a valid boolean.".into(),
        ),
        (
            "in_stock is a JSON boolean, not a number",
            with("in_stock", json!(1)),
            "in_stock",
            "Must be a valid boolean.".into(),
        ),
        (
            "in_stock may not be null",
            with("in_stock", Value::Null),
            "in_stock",
            "This field may not be null.".into(),
        ),
        (
            "name is a string, not a number",
            with("name", json!(5)),
            "name",
            "Not a valid string.".into(),
        ),
        (
            "name is a string, not an array",
            with("name", json!(["a"])),
            "name",
            "Not a valid string.".into(),
        ),
        (
            "description may not be null",
            with("description", Value::Null),
            "description",
            "This field may not be null.".into(),
        ),
        (
            "unknown fields are refused",
            with("colour", json!("red")),
            "colour",
            "Unknown field.".into(),
        ),
    ]
}

async fn invalid_create_bodies_are_400_per_field(app: TestApp) {
    for (case, body, field, message) in create_cases() {
        let response = app.post_item(&body).await;
        assert_eq!(response.status(), 400, "{case}");
        let errors: Value = response.json().await.unwrap();
        assert_eq!(errors[field], json!([message]), "{case}: {errors}");
        // PUT applies the same rules.
        let item = app.create_item("target", 1.0).await;
        let put = app
            .send_json(Method::PUT, &format!("/items/{}", item["id"]), &body)
            .await;
        assert_eq!(put.status(), 400, "PUT: {case}");
        let unchanged: Value = app
            .get(&format!("/items/{}", item["id"]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            unchanged, item,
            "PUT: {case}: a refused write changes nothing"
        );
    }
    let count: Value = app.get("/items/").await.json().await.unwrap();
    assert_eq!(
        count["count"],
        create_cases().len(),
        "no refused POST created a row"
    );
}

async fn invalid_patch_bodies_are_400_per_field(app: TestApp) {
    let item = app.create_item("patched", 1.0).await;
    let path = format!("/items/{}", item["id"]);
    let cases = [
        ("name may not be blank", json!({"name": ""}), "name"),
        ("name may not be null", json!({"name": null}), "name"),
        ("price may not be negative", json!({"price": -1}), "price"),
        ("price may not be a string", json!({"price": "1"}), "price"),
        (
            "in_stock may not be null",
            json!({"in_stock": null}),
            "in_stock",
        ),
        (
            "unknown fields are refused",
            json!({"colour": "red"}),
            "colour",
        ),
    ];
    for (case, body, field) in cases {
        let response = app.send_json(Method::PATCH, &path, &body).await;
        assert_eq!(response.status(), 400, "{case}");
        let errors: Value = response.json().await.unwrap();
        assert!(errors[field].is_array(), "{case}: {errors}");
    }
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged, item);
}

async fn boundaries_are_accepted(app: TestApp) {
    let cases = [
        ("name of 1 character", with("name", json!("x"))),
        (
            "name of 100 characters",
            with("name", json!("x".repeat(100))),
        ),
        ("empty description", with("description", json!(""))),
        (
            "description of 10000 characters",
            with("description", json!("d".repeat(10_000))),
        ),
        ("price of 0", with("price", json!(0))),
        ("integer price", with("price", json!(12))),
        ("huge finite price", with("price", json!(1e300))),
    ];
    for (case, body) in cases {
        let response = app.post_item(&body).await;
        assert_eq!(
            response.status(),
            201,
            "{case}: {}",
            response.text().await.unwrap()
        );
    }
}

async fn the_acceptance_example_reports_three_fields(app: TestApp) {
    let response = app
        .request(Method::POST, "/items/")
        .header("content-type", "application/json")
        .body(r#"{"name":"","price":-1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let errors: Value = response.json().await.unwrap();
    for field in ["name", "description", "price"] {
        assert!(
            errors[field]
                .as_array()
                .is_some_and(|messages| !messages.is_empty()),
            "{field}: {errors}"
        );
    }
}
