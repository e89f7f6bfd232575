//! `/categories/`, the second real resource: its contract, its rules in DRF's words, its list
//! declarations, its unique name (case-insensitive, race-free), and the data layer under it:
//! `items.category_id` and its foreign key (the relation itself: `relations.rs`).

use reqwest::Method;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, SqlErr, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, answer, test_settings};
use crate::on_both_databases;

on_both_databases!(
    crud_with_etags,
    validation_in_drf_words,
    description_defaults_to_empty,
    filters_search_and_ordering,
    unique_names_ignore_case_on_create,
    unique_names_hold_on_put_and_patch,
    concurrent_creates_of_one_name_store_one_row,
    options_lists_the_fields,
    openapi_documents_categories_and_leaves_items_unchanged,
    the_services_connection_refuses_a_dangling_category_id,
    deleting_a_referenced_category_is_a_409_that_deletes_nothing,
);

/// The foreign key refuses the delete, answered with the count of items
/// that protect the category; nothing is deleted.
async fn deleting_a_referenced_category_is_a_409_that_deletes_nothing(app: TestApp) {
    let created = app
        .send_json(Method::POST, "/categories/", &json!({"name": "Tools"}))
        .await;
    assert_eq!(created.status(), 201);
    let category = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let item = app.create_item("hammer", 3.0).await["id"].as_i64().unwrap();
    app.db()
        .await
        .execute_unprepared(&format!(
            "UPDATE items SET category_id = {category} WHERE id = {item}"
        ))
        .await
        .unwrap();
    let path = format!("/categories/{category}");
    let refused = app.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Cannot delete: 1 item refers to this category."})
    );
    assert_eq!(app.get(&path).await.status(), 200, "nothing deleted");
}

const TAKEN: &str = "category with this name already exists.";

impl TestApp {
    async fn post_category(&self, body: &Value) -> reqwest::Response {
        self.send_json(Method::POST, "/categories/", body).await
    }

    async fn create_category(&self, name: &str) -> Value {
        let response = self.post_category(&json!({ "name": name })).await;
        assert_eq!(response.status(), 201, "creating {name}");
        response.json().await.unwrap()
    }
}

/// The keys of a JSON object, sorted.
fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

/// The fields of the read representation, sorted.
const READ_FIELDS: [&str; 5] = ["created_at", "description", "id", "name", "updated_at"];

/// The first column of every row `sql` selects, as text.
async fn column(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

async fn category_names(app: &TestApp) -> Vec<String> {
    column(&app.db().await, "SELECT name FROM categories ORDER BY id").await
}

async fn crud_with_etags(app: TestApp) {
    let created = app
        .post_category(&json!({"name": "Tools", "description": "Hammers."}))
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let category: Value = created.json().await.unwrap();
    let id = category["id"].as_i64().unwrap();
    assert_eq!(
        location,
        format!("http://127.0.0.1:{}/categories/{id}/", app.port)
    );
    assert_eq!(keys(&category), READ_FIELDS);
    assert_eq!(category["name"], "Tools");
    assert_eq!(category["description"], "Hammers.");
    assert_eq!(category["created_at"], category["updated_at"]);

    let path = format!("/categories/{id}");
    let read = app.get(&path).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], "\"1\"");
    assert_eq!(read.json::<Value>().await.unwrap(), category);
    let cached = app
        .request(Method::GET, &path)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    let put = app
        .request(Method::PUT, &format!("{path}/"))
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Hand tools", "description": "Saws."}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["etag"], "\"2\"");
    let replaced: Value = put.json().await.unwrap();
    assert_eq!(
        (&replaced["name"], &replaced["description"]),
        (&json!("Hand tools"), &json!("Saws."))
    );
    assert_eq!(replaced["created_at"], category["created_at"]);

    let stale = app
        .request(Method::PATCH, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Lost"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let patched = app
        .request(Method::PATCH, &path)
        .header("if-match", "\"2\"")
        .json(&json!({"description": "Saws and planes."}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.headers()["etag"], "\"3\"");
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        patched["name"], "Hand tools",
        "PATCH keeps what it is not sent"
    );
    assert_eq!(patched["description"], "Saws and planes.");

    let stale_delete = app
        .request(Method::DELETE, &path)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale_delete.status(), 412);
    let deleted = app
        .request(Method::DELETE, &path)
        .header("if-match", "\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.get(&path).await.status(), 404);
    assert!(category_names(&app).await.is_empty());
}

async fn validation_in_drf_words(app: TestApp) {
    let cases = [
        (json!({}), "name", "This field is required."),
        (
            json!({"description": "x"}),
            "name",
            "This field is required.",
        ),
        (json!({"name": ""}), "name", "This field may not be blank."),
        (
            json!({"name": "   "}),
            "name",
            "This field may not be blank.",
        ),
        (
            json!({"name": "n".repeat(101)}),
            "name",
            "Ensure this field has no more than 100 characters.",
        ),
        (json!({"name": 7}), "name", "Not a valid string."),
        (json!({"name": null}), "name", "This field may not be null."),
        (
            json!({"name": "ok", "description": "d".repeat(1001)}),
            "description",
            "Ensure this field has no more than 1000 characters.",
        ),
        (
            json!({"name": "ok", "description": null}),
            "description",
            "This field may not be null.",
        ),
        (
            json!({"name": "ok", "colour": "red"}),
            "colour",
            "Unknown field.",
        ),
        (
            json!({"name": "ok", "version": 3}),
            "version",
            "Unknown field.",
        ),
    ];
    for (body, field, message) in cases {
        let (status, errors) = answer(app.post_category(&body).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(errors, json!({ field: [message] }), "{body}");
    }
    assert!(category_names(&app).await.is_empty(), "nothing is stored");

    // The limits themselves are fine, counted in characters.
    let longest = app
        .post_category(&json!({"name": "é".repeat(100), "description": "d".repeat(1000)}))
        .await;
    assert_eq!(longest.status(), 201);
    let id = longest.json::<Value>().await.unwrap()["id"].clone();
    let (status, errors) = answer(
        app.send_json(
            Method::PATCH,
            &format!("/categories/{id}"),
            &json!({"name": ""}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), errors),
        (400, json!({"name": ["This field may not be blank."]}))
    );
}

async fn description_defaults_to_empty(app: TestApp) {
    let created = app.create_category("  Garden  ").await;
    assert_eq!(created["name"], "Garden", "names are stored trimmed");
    assert_eq!(created["description"], "");
    let path = format!("/categories/{}", created["id"]);
    let patched: Value = app
        .send_json(Method::PATCH, &path, &json!({"description": "Spades."}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["description"], "Spades.");
    let renamed: Value = app
        .send_json(Method::PATCH, &path, &json!({"name": "Yard"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["description"], "Spades.", "PATCH leaves it");
    let replaced = app
        .send_json(Method::PUT, &path, &json!({"name": "Yard"}))
        .await;
    assert_eq!(replaced.status(), 200);
    assert_eq!(
        replaced.json::<Value>().await.unwrap()["description"],
        "",
        "PUT replaces the whole representation: an omitted description is the default"
    );
    let blank = app
        .post_category(&json!({"name": "Blank", "description": "   "}))
        .await;
    assert_eq!(blank.status(), 201);
    assert_eq!(blank.json::<Value>().await.unwrap()["description"], "");
}

async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/categories/?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.unwrap();
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

async fn filters_search_and_ordering(app: TestApp) {
    let mut ids = Vec::new();
    for name in ["Tools", "Garden", "Kitchen tools", "Paint", "100% wool"] {
        ids.push(app.create_category(name).await["id"].as_i64().unwrap());
    }
    let page: Value = app.get("/categories/").await.json().await.unwrap();
    assert_eq!(page["count"], 5);
    assert_eq!(
        names(&app, "").await,
        ["Tools", "Garden", "Kitchen tools", "Paint", "100% wool"],
        "ordered by id by default"
    );
    assert_eq!(names(&app, &format!("id={}", ids[1])).await, ["Garden"]);
    assert_eq!(
        names(&app, &format!("id__in={},{},0", ids[3], ids[0])).await,
        ["Tools", "Paint"]
    );
    assert_eq!(names(&app, "name=Paint").await, ["Paint"]);
    assert!(names(&app, "name=paint").await.is_empty(), "exact is exact");
    assert_eq!(
        names(&app, "name__icontains=TOOL").await,
        ["Tools", "Kitchen tools"]
    );
    assert_eq!(names(&app, "name__icontains=%25").await, ["100% wool"]);
    assert_eq!(names(&app, "search=tool").await, ["Tools", "Kitchen tools"]);
    assert_eq!(
        names(&app, "search=kitchen%20TOOLS").await,
        ["Kitchen tools"]
    );
    assert_eq!(
        names(&app, "ordering=name").await,
        ["100% wool", "Garden", "Kitchen tools", "Paint", "Tools"]
    );
    assert_eq!(
        names(&app, "ordering=-name").await,
        ["Tools", "Paint", "Kitchen tools", "Garden", "100% wool"]
    );
    assert_eq!(
        names(&app, "ordering=-id&page_size=2").await,
        ["100% wool", "Paint"]
    );
    // Cursor pages in name order walk every row once.
    let mut walked = Vec::new();
    let mut url = app.url("/categories/?cursor=&ordering=name&page_size=2");
    loop {
        let page: Value = app
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        walked.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(
        walked,
        ["100% wool", "Garden", "Kitchen tools", "Paint", "Tools"]
    );

    for (query, parameter) in [
        ("ordering=description", "ordering"),
        ("ordering=created_at", "ordering"),
        ("id=abc", "id"),
        ("id__in=1,x", "id__in"),
    ] {
        let (status, body) = answer(app.get(&format!("/categories/?{query}")).await).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.get(parameter).is_some(), "{query}: {body}");
    }
}

async fn unique_names_ignore_case_on_create(app: TestApp) {
    app.create_category("Tools").await;
    for name in ["Tools", "tools", "TOOLS", "  tOoLs "] {
        let (status, body) = answer(
            app.post_category(&json!({"name": name, "description": "again"}))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{name}");
        assert_eq!(body, json!({ "name": [TAKEN] }), "{name}");
    }
    // The body is checked before anything is written: a taken name with a bad description
    // is answered about the description.
    let (status, body) = answer(
        app.post_category(&json!({"name": "tools", "description": "d".repeat(1001)}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.get("description").is_some(), "{body}");
    assert_eq!(category_names(&app).await, ["Tools"], "nothing else stored");
    // Another name is fine, and so is one that only contains it.
    app.create_category("Power tools").await;
    // With an Idempotency-Key, the 400 is the answer that is kept and replayed.
    for _ in 0..2 {
        let response = app
            .request(Method::POST, "/categories/")
            .header("idempotency-key", "duplicate-tools")
            .json(&json!({"name": "TOOLS"}))
            .send()
            .await
            .unwrap();
        let (status, body) = answer(response).await;
        assert_eq!((status.as_u16(), body), (400, json!({ "name": [TAKEN] })));
    }
    assert_eq!(category_names(&app).await, ["Tools", "Power tools"]);
}

async fn unique_names_hold_on_put_and_patch(app: TestApp) {
    app.create_category("Tools").await;
    let garden = app.create_category("Garden").await;
    let path = format!("/categories/{}", garden["id"]);
    for (method, body) in [
        (Method::PATCH, json!({"name": "TOOLS"})),
        (Method::PATCH, json!({"name": "tools", "description": "x"})),
        (Method::PUT, json!({"name": "Tools"})),
        (Method::PUT, json!({"name": " tOOLS", "description": "y"})),
    ] {
        let response = app
            .request(method.clone(), &path)
            .header("if-match", "\"1\"")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, errors) = answer(response).await;
        assert_eq!(status, 400, "{method} {body}");
        assert_eq!(errors, json!({ "name": [TAKEN] }), "{method} {body}");
    }
    // A taken name is reported beside the body's other errors, as DRF's validators run side
    // by side; a row's own name (in any case) is not taken.
    let long = "d".repeat(1001);
    let too_long = "Ensure this field has no more than 1000 characters.";
    for (method, path, body, expected) in [
        (
            Method::POST,
            "/categories/",
            json!({"name": " tools ", "description": long}),
            json!({"name": [TAKEN], "description": [too_long]}),
        ),
        (
            Method::PUT,
            path.as_str(),
            json!({"name": "TOOLS", "description": long}),
            json!({"name": [TAKEN], "description": [too_long]}),
        ),
        (
            Method::PATCH,
            path.as_str(),
            json!({"name": "tools", "colour": "red"}),
            json!({"name": [TAKEN], "colour": ["Unknown field."]}),
        ),
        (
            Method::PATCH,
            path.as_str(),
            json!({"name": "GARDEN", "description": long}),
            json!({"description": [too_long]}),
        ),
    ] {
        let response = app.send_json(method.clone(), path, &body).await;
        let (status, errors) = answer(response).await;
        assert_eq!(
            (status.as_u16(), errors),
            (400, expected),
            "{method} {path}"
        );
    }
    let unchanged = app.get(&path).await;
    assert_eq!(unchanged.headers()["etag"], "\"1\"", "nothing was written");
    assert_eq!(unchanged.json::<Value>().await.unwrap(), garden);

    // A row keeps its own name, in any case, and others' names are free once released.
    let recased = app
        .send_json(Method::PATCH, &path, &json!({"name": "GARDEN"}))
        .await;
    assert_eq!(recased.status(), 200);
    assert_eq!(recased.json::<Value>().await.unwrap()["name"], "GARDEN");
    let tools = app
        .get("/categories/?name=Tools")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let tools_path = format!("/categories/{}", tools["results"][0]["id"]);
    let renamed = app
        .send_json(Method::PATCH, &tools_path, &json!({"name": "Hand tools"}))
        .await;
    assert_eq!(renamed.status(), 200);
    let taken_now = app
        .send_json(Method::PUT, &path, &json!({"name": "tools"}))
        .await;
    assert_eq!(taken_now.status(), 200, "the name was released");
    assert_eq!(category_names(&app).await, ["Hand tools", "tools"]);
}

/// Twenty clients create the same name, in twenty spellings, at once: the unique index
/// decides, so exactly one row exists and every other client is told why.
async fn concurrent_creates_of_one_name_store_one_row(app: TestApp) {
    let spellings: Vec<String> = (0..20u32)
        .map(|bits| {
            "tools"
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    let mut tasks = Vec::new();
    for name in spellings {
        let (client, url) = (app.client.clone(), app.url("/categories/"));
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status.as_u16() {
            201 => created += 1,
            400 => assert_eq!(body, json!({ "name": [TAKEN] })),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    let stored = category_names(&app).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].to_lowercase(), "tools");
}

async fn options_lists_the_fields(app: TestApp) {
    let response = app
        .request(Method::OPTIONS, "/categories/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["allow"], "GET, HEAD, POST, OPTIONS");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Category List");
    assert_eq!(body["description"], "A category of items.");
    let post = &body["actions"]["POST"];
    assert_eq!(keys(post), READ_FIELDS);
    assert_eq!(
        post["name"],
        json!({"type": "string", "required": true, "read_only": false, "label": "Name",
               "max_length": 100, "min_length": 1, "unique": true, "unique_ignoring_case": true})
    );
    assert_eq!(
        post["description"],
        json!({"type": "string", "required": false, "read_only": false, "label": "Description",
               "max_length": 1000, "default": ""})
    );
    assert_eq!(post["id"]["read_only"], true);
    assert_eq!(post["created_at"]["read_only"], true);
    assert_eq!(
        body["filters"],
        json!({"id": "integer", "id__in": "integer", "name": "string", "name__icontains": "string"})
    );
    assert_eq!(body["search_fields"], json!(["name"]));
    assert_eq!(body["ordering_fields"], json!(["id", "name"]));

    let items: Value = app
        .request(Method::OPTIONS, "/items/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(items["actions"]["POST"].get("category_id").is_none());
    assert!(items["actions"]["POST"]["name"].get("unique").is_none());
}

async fn openapi_documents_categories_and_leaves_items_unchanged(app: TestApp) {
    let doc: Value = app.json("/api-docs/openapi.json").await;
    let list = &doc["paths"]["/categories/"];
    assert_eq!(list["get"]["operationId"], "categories_list");
    assert_eq!(list["post"]["operationId"], "categories_create");
    let detail = &doc["paths"]["/categories/{id}"];
    for (method, id) in [
        ("get", "categories_retrieve"),
        ("put", "categories_update"),
        ("patch", "categories_partial_update"),
        ("delete", "categories_destroy"),
    ] {
        assert_eq!(detail[method]["operationId"], id);
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(keys(&schemas["Category"]["properties"]), READ_FIELDS);
    assert_eq!(
        keys(&schemas["CategoryPatch"]["properties"]),
        ["description", "name"]
    );
    let create = &schemas["CategoryCreate"];
    assert_eq!(create["required"], json!(["name"]));
    assert_eq!(create["properties"]["name"]["maxLength"], 100);
    assert_eq!(create["properties"]["description"]["maxLength"], 1000);
    assert_eq!(create["properties"]["description"]["default"], "");
    let described = create["properties"]["name"]["description"]
        .as_str()
        .unwrap();
    assert!(described.contains("Unique, ignoring case"), "{described}");
    let invalid = list["post"]["responses"]["400"]["description"]
        .as_str()
        .unwrap();
    assert!(invalid.contains("unique field (`name`)"), "{invalid}");
    let parameters: Vec<&str> = list["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for expected in [
        "id",
        "id__in",
        "name",
        "name__icontains",
        "search",
        "ordering",
    ] {
        assert!(
            parameters.contains(&expected),
            "{expected} in {parameters:?}"
        );
    }

    // Item: no trace of the hidden column, nor of uniqueness.
    for schema in ["Item", "ItemCreate", "ItemPatch"] {
        assert!(
            schemas[schema]["properties"].get("category_id").is_none(),
            "{schema}"
        );
        assert!(
            schemas[schema]["properties"]["name"]
                .get("description")
                .is_none()
        );
    }
    let item_invalid = doc["paths"]["/items/"]["post"]["responses"]["400"]["description"]
        .as_str()
        .unwrap();
    assert!(!item_invalid.contains("unique"), "{item_invalid}");
}

/// The foreign key holds through the connection the service itself opens (on SQLite it
/// turns `foreign_keys` on for every connection): a dangling id is refused, a real one
/// stored, and a category with items cannot be deleted.
async fn the_services_connection_refuses_a_dangling_category_id(app: TestApp) {
    let mut settings = test_settings().database;
    settings.url = infrastructure::Secret::new(app.database_url.clone());
    let db = infrastructure::database::connect(&settings).await.unwrap();
    let item = app.create_item("Hammer", 12.0).await;
    let set = |category: &str| {
        format!(
            "UPDATE items SET category_id = {category} WHERE id = {}",
            item["id"]
        )
    };
    let run = |sql: String| {
        let db = db.clone();
        async move {
            db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
        }
    };
    // SQLite refuses a RESTRICT delete with its own extended code (1811,
    // `SQLITE_CONSTRAINT_TRIGGER`), which SeaORM does not classify as a foreign key violation.
    let foreign_key_refused = |result: Result<sea_orm::ExecResult, DbErr>| match result {
        Err(error) => {
            assert!(
                matches!(
                    error.sql_err(),
                    Some(SqlErr::ForeignKeyConstraintViolation(_))
                ) || error.to_string().contains("FOREIGN KEY constraint failed"),
                "{error}"
            );
        }
        Ok(_) => panic!("the foreign key let it through"),
    };
    foreign_key_refused(run(set("999999")).await);
    let category = app.create_category("Tools").await;
    run(set(&category["id"].to_string())).await.unwrap();
    foreign_key_refused(
        run(format!(
            "DELETE FROM categories WHERE id = {}",
            category["id"]
        ))
        .await,
    );
    // Through the API too: deleting the category is refused, never a dangling item.
    let delete = app
        .request(Method::DELETE, &format!("/categories/{}", category["id"]))
        .send()
        .await
        .unwrap();
    assert!(!delete.status().is_success(), "{}", delete.status());
    assert_eq!(category_names(&app).await, ["Tools"]);
    let stored = column(
        &app.db().await,
        "SELECT CAST(category_id AS TEXT) FROM items",
    )
    .await;
    assert_eq!(stored, [category["id"].to_string()]);
}
