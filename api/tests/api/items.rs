//! Every row of the contract table for `/items/`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    create_returns_201_with_location_etag_and_the_item,
    a_fastapi_client_works_unchanged,
    read_only_fields_in_bodies_are_ignored,
    retrieve_replace_patch_delete,
    put_replaces_the_whole_representation,
    patch_changes_only_the_fields_sent,
    both_slash_styles_work_without_redirects,
    missing_rows_and_invalid_ids_are_404,
    head_is_get_without_a_body,
    options_describes_the_resource,
    other_methods_are_405_with_allow,
    strings_are_trimmed_and_unicode_counts_characters,
);

fn widget() -> Value {
    json!({"name": "Widget", "description": "A widget.", "price": 9.99, "in_stock": false})
}

async fn create_returns_201_with_location_etag_and_the_item(app: TestApp) {
    let response = app.post_item(&widget()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let item: Value = response.json().await.unwrap();
    let id = item["id"].as_i64().unwrap();
    assert_eq!(
        location,
        format!("http://127.0.0.1:{}/items/{id}/", app.port)
    );
    assert_eq!(etag, "\"1\"");
    assert_eq!(item["name"], "Widget");
    assert_eq!(item["description"], "A widget.");
    assert_eq!(item["price"], 9.99);
    assert_eq!(item["in_stock"], false);
    assert_eq!(item["created_at"], item["updated_at"]);
    let fetched: Value = app.get(&format!("/items/{id}")).await.json().await.unwrap();
    assert_eq!(fetched, item, "what POST returns is what GET returns");
    let by_location: Value = app
        .client
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_location, item);
}

/// The original comparison's client: no slash on detail URLs, `id: null` in the body,
/// `in_stock` omitted.
async fn a_fastapi_client_works_unchanged(app: TestApp) {
    let created = app
        .post_item(&json!({"id": null, "name": "Foo", "description": "Bar", "price": 1.5}))
        .await;
    assert_eq!(created.status(), 201);
    let item: Value = created.json().await.unwrap();
    assert_eq!(item["in_stock"], true, "in_stock defaults to true");
    let id = item["id"].as_i64().unwrap();
    let read = app.get(&format!("/items/{id}")).await;
    assert_eq!(read.status(), 200);
    let replaced = app
        .send_json(
            Method::PUT,
            &format!("/items/{id}"),
            &json!({"name": "Foo2", "description": "Baz", "price": 2.0, "in_stock": false}),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    assert_eq!(replaced.json::<Value>().await.unwrap()["name"], "Foo2");
    let deleted = app
        .request(Method::DELETE, &format!("/items/{id}"))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert_eq!(app.get(&format!("/items/{id}")).await.status(), 404);
}

async fn read_only_fields_in_bodies_are_ignored(app: TestApp) {
    let body = json!({"id": 999, "created_at": "2000-01-01T00:00:00Z", "updated_at": "x", "name": "A", "description": "", "price": 0});
    let response = app.post_item(&body).await;
    assert_eq!(response.status(), 201);
    let item: Value = response.json().await.unwrap();
    assert_ne!(item["id"], 999);
    assert_ne!(item["created_at"], "2000-01-01T00:00:00Z");
    let id = item["id"].as_i64().unwrap();
    let patched = app
        .send_json(
            Method::PATCH,
            &format!("/items/{id}"),
            &json!({"id": 5, "price": 1}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.json::<Value>().await.unwrap()["id"], id);
}

async fn retrieve_replace_patch_delete(app: TestApp) {
    let item = app.create_item("Lamp", 20.0).await;
    let path = format!("/items/{}/", item["id"]);

    let read = app.get(&path).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], "\"1\"");

    let put = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"name": "Lamp", "description": "Bright", "price": 25.0}),
        )
        .await;
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.headers()["etag"],
        "\"2\"",
        "every write bumps the version"
    );
    let replaced: Value = put.json().await.unwrap();
    assert_eq!(replaced["description"], "Bright");
    assert_eq!(
        replaced["created_at"], item["created_at"],
        "created_at survives a replace"
    );
    assert_ne!(replaced["updated_at"], item["updated_at"]);

    let patch = app
        .send_json(Method::PATCH, &path, &json!({"price": 30.0}))
        .await;
    assert_eq!(patch.status(), 200);
    assert_eq!(patch.headers()["etag"], "\"3\"");
    assert_eq!(patch.json::<Value>().await.unwrap()["price"], 30.0);

    let delete = app.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(delete.status(), 204);
    assert!(delete.bytes().await.unwrap().is_empty(), "204 has no body");
    assert_eq!(app.get(&path).await.status(), 404);
    assert_eq!(
        app.request(Method::DELETE, &path)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

async fn put_replaces_the_whole_representation(app: TestApp) {
    let created = app
        .post_item(&widget())
        .await
        .json::<Value>()
        .await
        .unwrap();
    let path = format!("/items/{}", created["id"]);
    let put = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"name": "W", "description": "", "price": 1}),
        )
        .await;
    assert_eq!(put.status(), 200);
    let item: Value = put.json().await.unwrap();
    assert_eq!(
        item["in_stock"], true,
        "an omitted in_stock becomes its default"
    );
    let missing = app
        .send_json(Method::PUT, &path, &json!({"name": "W"}))
        .await;
    assert_eq!(missing.status(), 400);
    let errors: Value = missing.json().await.unwrap();
    assert_eq!(errors["description"][0], "This field is required.");
    assert_eq!(errors["price"][0], "This field is required.");
}

async fn patch_changes_only_the_fields_sent(app: TestApp) {
    let created = app
        .post_item(&widget())
        .await
        .json::<Value>()
        .await
        .unwrap();
    let path = format!("/items/{}", created["id"]);
    let patched: Value = app
        .send_json(Method::PATCH, &path, &json!({"in_stock": true}))
        .await
        .json()
        .await
        .unwrap();
    for field in ["name", "description", "price", "created_at"] {
        assert_eq!(patched[field], created[field], "{field} unchanged");
    }
    assert_eq!(patched["in_stock"], true);
    let empty = app.send_json(Method::PATCH, &path, &json!({})).await;
    assert_eq!(empty.status(), 200, "an empty patch is valid");
    let null = app
        .send_json(Method::PATCH, &path, &json!({"name": null}))
        .await;
    assert_eq!(null.status(), 400);
    assert_eq!(
        null.json::<Value>().await.unwrap()["name"][0],
        "This field may not be null."
    );
    let after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(after["name"], "Widget", "a refused patch changes nothing");
}

async fn both_slash_styles_work_without_redirects(app: TestApp) {
    let item = app.create_item("Slash", 1.0).await;
    let id = item["id"].as_i64().unwrap();
    for path in ["/items", "/items/"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
        let created = app
            .send_json(
                Method::POST,
                path,
                &json!({"name": "x", "description": "", "price": 1}),
            )
            .await;
        assert_eq!(created.status(), 201, "POST {path}");
    }
    for path in [format!("/items/{id}"), format!("/items/{id}/")] {
        assert_eq!(app.get(&path).await.status(), 200, "{path}");
        let patched = app
            .send_json(Method::PATCH, &path, &json!({"price": 2}))
            .await;
        assert_eq!(patched.status(), 200, "PATCH {path}");
    }
    let location = app
        .client
        .post(app.url("/items"))
        .json(&widget())
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .clone();
    assert!(
        !location.to_str().unwrap().ends_with('/'),
        "Location follows the request's slash style"
    );
}

async fn missing_rows_and_invalid_ids_are_404(app: TestApp) {
    for path in [
        "/items/999999",
        "/items/abc",
        "/items/1.5",
        "/items/-1",
        "/items/99999999999999999999999",
        "/items/%00",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"detail": "Not found."}),
            "{path}"
        );
    }
    // An existing row has one URL: other spellings of its id name nothing.
    let id = app.create_item("Spelled", 1.0).await["id"].clone();
    assert_eq!(app.get(&format!("/items/{id}")).await.status(), 200);
    for path in [
        format!("/items/+{id}"),
        format!("/items/0{id}"),
        format!("/items/%20{id}"),
        format!("/items/{id}%20"),
    ] {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
        let patch = app
            .send_json(Method::PATCH, &path, &json!({"price": 2}))
            .await;
        assert_eq!(patch.status(), 404, "PATCH {path}");
    }
    let put = app.send_json(Method::PUT, "/items/999999", &widget()).await;
    assert_eq!(put.status(), 404);
    let invalid_put = app
        .send_json(Method::PUT, "/items/999999", &json!({"name": ""}))
        .await;
    assert_eq!(
        invalid_put.status(),
        404,
        "a missing row is 404 even with an invalid body (DRF)"
    );
    let patch = app
        .send_json(Method::PATCH, "/items/abc", &json!({"price": 1}))
        .await;
    assert_eq!(patch.status(), 404);
    assert_eq!(app.get("/no/such/route").await.status(), 404);
}

async fn head_is_get_without_a_body(app: TestApp) {
    let item = app.create_item("Head", 1.0).await;
    for path in [
        format!("/items/{}", item["id"]),
        "/items/".to_string(),
        "/health/live".to_string(),
    ] {
        let get = app.get(&path).await;
        let head = app.request(Method::HEAD, &path).send().await.unwrap();
        assert_eq!(head.status(), 200, "{path}");
        assert_eq!(
            head.headers().get("etag"),
            get.headers().get("etag"),
            "{path}"
        );
        assert_eq!(
            head.headers()["content-type"],
            get.headers()["content-type"]
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
}

async fn options_describes_the_resource(app: TestApp) {
    let list = app
        .request(Method::OPTIONS, "/items/")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    assert_eq!(list.headers()["allow"], "GET, HEAD, POST, OPTIONS");
    let body: Value = list.json().await.unwrap();
    assert_eq!(body["name"], "Item List");
    let post = &body["actions"]["POST"];
    assert_eq!(
        post["name"],
        json!({"type": "string", "required": true, "read_only": false, "label": "Name", "max_length": 100, "min_length": 1})
    );
    assert_eq!(post["id"]["read_only"], true);
    assert_eq!(post["price"]["min_value"], 0.0);
    assert_eq!(post["in_stock"]["required"], false);
    assert!(
        body["ordering_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("price"))
    );

    let item = app.create_item("Described", 1.0).await;
    let detail = app
        .request(Method::OPTIONS, &format!("/items/{}", item["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), 200);
    assert_eq!(
        detail.headers()["allow"],
        "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
    );
    assert!(detail.json::<Value>().await.unwrap()["actions"]["PUT"].is_object());
    let missing = app
        .request(Method::OPTIONS, "/items/999999")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "OPTIONS describes rows that exist");
    for invalid in ["/items/abc", "/items/01", "/items/-9223372036854775809"] {
        let response = app.request(Method::OPTIONS, invalid).send().await.unwrap();
        assert_eq!(response.status(), 404, "{invalid}: no valid id");
    }
}

async fn other_methods_are_405_with_allow(app: TestApp) {
    let cases = [
        (Method::DELETE, "/items/", "GET, HEAD, POST, OPTIONS"),
        (
            Method::POST,
            "/items/1",
            "GET, HEAD, PUT, PATCH, DELETE, OPTIONS",
        ),
    ];
    for (method, path, allow) in cases {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], format!("Method \"{method}\" not allowed."));
    }
}

async fn strings_are_trimmed_and_unicode_counts_characters(app: TestApp) {
    let name = "é".repeat(97);
    let response = app
        .post_item(&json!({"name": format!("  {name}\n"), "description": " d ", "price": 0}))
        .await;
    assert_eq!(
        response.status(),
        201,
        "97 two-byte characters with padding fit"
    );
    let item: Value = response.json().await.unwrap();
    assert_eq!(item["name"], name.as_str(), "stored trimmed");
    assert_eq!(item["description"], "d");
    let padded = app
        .post_item(
            &json!({"name": format!(" {}\t", "é".repeat(100)), "description": "", "price": 0}),
        )
        .await;
    assert_eq!(
        padded.status(),
        201,
        "100 characters once trimmed fit (DRF trims, then validates)"
    );
    let item: Value = padded.json().await.unwrap();
    assert_eq!(item["name"], "é".repeat(100));
    let long = app
        .post_item(
            &json!({"name": format!(" {} ", "é".repeat(101)), "description": "", "price": 0}),
        )
        .await;
    assert_eq!(long.status(), 400, "101 characters once trimmed do not");
}
