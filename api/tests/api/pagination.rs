//! Page-number, limit/offset and cursor pagination.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use sea_orm::ConnectionTrait;

use crate::helpers::{Backend, TestApp, answer, spawn_app_with};
use crate::{on_both_databases, on_databases_with};

on_both_databases!(
    page_numbers_cover_every_row_once,
    cursors_walk_forwards_and_backwards,
    cursor_pages_follow_any_declared_ordering,
    limit_offset_pages,
    bad_pagination_parameters_are_400_naming_them,
    page_sizes_are_clamped_to_the_maximum,
    count_modes,
    deep_pages_are_refused_pointing_to_cursors,
);

on_databases_with!(
    super::spawn_counting_estimates_from_one_row;
    counts_say_whether_they_are_exact_or_estimated,
);

async fn spawn_counting_estimates_from_one_row(backend: Backend) -> Option<TestApp> {
    spawn_app_with(
        backend,
        |settings| settings.pagination.exact_count_threshold = 1,
        api::resources::register,
    )
    .await
}

/// `count=auto` (the default) gives the planner's estimate once it reaches the threshold
/// (PostgreSQL; SQLite has none and counts exactly); `X-Count-Kind` says which one came.
async fn counts_say_whether_they_are_exact_or_estimated(app: TestApp) {
    seed(&app, 4).await;
    let postgres = app.database_url.starts_with("postgres");
    if postgres {
        app.db()
            .await
            .execute_unprepared("ANALYZE items")
            .await
            .unwrap();
    }
    let kind = |response: &reqwest::Response| {
        response
            .headers()
            .get("x-count-kind")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let auto = app.get("/items/?page_size=2").await;
    let expected = if postgres { "estimated" } else { "exact" };
    assert_eq!(kind(&auto).as_deref(), Some(expected));
    let page: Value = auto.json().await.unwrap();
    assert_eq!(page["count"], 4, "the estimate of an analysed table");
    // A page that reaches the end of the list knows the count: it is exact, whatever the
    // planner expected (a filter no row matches, the last page).
    for (query, count) in [
        ("name=nothing&page_size=2", 0),
        ("page_size=10", 4),
        ("page_size=3&page=2", 4),
        ("limit=2&offset=3", 4),
    ] {
        let response = app.get(&format!("/items/?{query}")).await;
        assert_eq!(kind(&response).as_deref(), Some("exact"), "{query}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["count"],
            count,
            "{query}"
        );
    }
    // Shapes whose cost grows with the rows they match (an exact count, an ordering by a
    // related row's field) are refused above the threshold, naming the parameter, and served
    // below it; SQLite has no estimate and serves them.
    let ids = app.ids("/items/?ordering=id").await;
    for (query, parameter) in [
        ("count=exact&limit=1", "count"),
        ("ordering=category__name", "ordering"),
        ("ordering=-category__name&cursor=", "ordering"),
    ] {
        let (status, body) = answer(app.get(&format!("/items/?{query}")).await).await;
        if postgres {
            assert_eq!(status, 400, "{query}: {body}");
            let message = body[parameter][0].as_str().unwrap();
            assert!(
                message
                    .starts_with("Not offered on lists of more than 1 rows (this one has about 4)"),
                "{message}"
            );
        } else {
            assert_eq!(status, 200, "{query}: {body}");
        }
        let narrow = app.get(&format!("/items/?{query}&id={}", ids[0])).await;
        assert_eq!(narrow.status(), 200, "{query} on one row");
    }
    let exact = app
        .get(&format!("/items/?count=exact&limit=1&id={}", ids[0]))
        .await;
    assert_eq!(kind(&exact).as_deref(), Some("exact"));
    let none = app.get("/items/?count=none").await;
    assert_eq!(kind(&none), None);
    let cursor = app.get("/items/?cursor=").await;
    assert_eq!(kind(&cursor), None);
}

/// Offsets deeper than `pagination.max_offset` would scan every row before them: refused,
/// naming the parameter and pointing to cursor pages, which reach any depth.
async fn deep_pages_are_refused_pointing_to_cursors(app: TestApp) {
    seed(&app, 2).await;
    for (query, parameter) in [
        ("?offset=5001", "offset"),
        ("?limit=10&offset=999000", "offset"),
        ("?page=102", "page"),
        ("?page=20000&page_size=50", "page"),
        ("?offset=9223372036854775808", "offset"),
        ("?page=99999999999999999999", "page"),
    ] {
        let response = app.get(&format!("/items/{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        let message = body[parameter][0].as_str().unwrap_or_default();
        assert!(message.contains("cursor"), "{query}: {body}");
    }
    let default_page = app.get("/items/").await;
    assert_eq!(default_page.headers()["x-count-kind"], "exact");
    // At the limit: served (an empty page past the last is DRF's 404).
    assert_eq!(app.get("/items/?offset=5000").await.status(), 200);
    assert_eq!(app.get("/items/?page=101").await.status(), 404);
}

async fn seed(app: &TestApp, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let item = app
            .create_item(&format!("item {i:02}"), (i % 7) as f64)
            .await;
        ids.push(item["id"].as_i64().unwrap());
    }
    ids
}

async fn get_json(app: &TestApp, url: &str) -> Value {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

fn ids_of(page: &Value) -> Vec<i64> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

async fn page_numbers_cover_every_row_once(app: TestApp) {
    let ids = seed(&app, 25).await;
    let mut seen = Vec::new();
    let mut url = app.url("/items/?page_size=10");
    let mut pages = 0;
    loop {
        let page = get_json(&app, &url).await;
        assert_eq!(page["count"], 25);
        seen.extend(ids_of(&page));
        pages += 1;
        match page["next"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&format!("http://127.0.0.1:{}/items/?", app.port)),
                    "absolute: {next}"
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every row once, in id order");

    let third = get_json(&app, &app.url("/items/?page_size=10&page=3")).await;
    assert_eq!(ids_of(&third).len(), 5);
    let previous = third["previous"].as_str().unwrap();
    assert!(previous.contains("page=2"), "{previous}");
    let second = get_json(&app, previous).await;
    assert_eq!(
        second["previous"].as_str().unwrap(),
        app.url("/items/?page_size=10"),
        "page 1 drops the page parameter"
    );

    let past = app.get("/items/?page_size=10&page=4").await;
    assert_eq!(past.status(), 404);
    assert_eq!(
        past.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid page."})
    );
    // Deeper than `pagination.max_offset`: refused, naming the parameter.
    let huge = app
        .get("/items/?page=18446744073709551615&page_size=1000")
        .await;
    assert_eq!(huge.status(), 400);
    assert!(huge.json::<Value>().await.unwrap()["page"].is_array());
}

async fn cursors_walk_forwards_and_backwards(app: TestApp) {
    let ids = seed(&app, 25).await;
    let first = get_json(&app, &app.url("/items/?cursor=&page_size=10")).await;
    assert!(first.get("count").is_none(), "cursor pages have no count");
    assert!(first["previous"].is_null());
    let mut seen = ids_of(&first);
    let mut page = first;
    let mut last_page = Value::Null;
    while let Some(next) = page["next"].as_str() {
        page = get_json(&app, next).await;
        seen.extend(ids_of(&page));
        last_page = page.clone();
    }
    assert_eq!(seen, ids, "following next covers every row once, in order");

    // And back again from the last page.
    let mut back = Vec::new();
    let mut page = last_page;
    while let Some(previous) = page["previous"].as_str() {
        page = get_json(&app, previous).await;
        let mut ids = ids_of(&page);
        ids.extend(back);
        back = ids;
    }
    assert_eq!(
        back,
        ids[..20].to_vec(),
        "following previous walks back to the start"
    );

    for bad in [
        "garbage",
        "eyJvIjoiaWQiLCJiIjpmYWxzZSwicCI6WyIxIl19",
        "%FF%FE",
        &"A".repeat(5000),
    ] {
        let response = app.get(&format!("/items/?cursor={bad}")).await;
        assert_eq!(response.status(), 400, "cursor={bad:.40}");
        assert!(response.json::<Value>().await.unwrap()["cursor"].is_array());
    }
}

async fn cursor_pages_follow_any_declared_ordering(app: TestApp) {
    seed(&app, 23).await;
    let all = get_json(
        &app,
        &app.url("/items/?ordering=-price,name&page_size=1000"),
    )
    .await;
    let expected = ids_of(&all);
    let mut seen = Vec::new();
    let mut url = app.url("/items/?ordering=-price,name&cursor=&page_size=4");
    loop {
        let page = get_json(&app, &url).await;
        seen.extend(ids_of(&page));
        match page["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 23);
    // A cursor is bound to its ordering.
    let first = get_json(
        &app,
        &app.url("/items/?ordering=-price&cursor=&page_size=4"),
    )
    .await;
    let next = first["next"]
        .as_str()
        .unwrap()
        .replace("ordering=-price", "ordering=price");
    assert_eq!(app.client.get(&next).send().await.unwrap().status(), 400);
}

async fn limit_offset_pages(app: TestApp) {
    let ids = seed(&app, 12).await;
    let page = get_json(&app, &app.url("/items/?limit=5&offset=5")).await;
    assert_eq!(page["count"], 12);
    assert_eq!(ids_of(&page), ids[5..10].to_vec());
    assert!(page["next"].as_str().unwrap().contains("offset=10"));
    assert_eq!(
        page["previous"].as_str().unwrap(),
        app.url("/items/?limit=5")
    );
    let beyond = get_json(&app, &app.url("/items/?limit=5&offset=100")).await;
    assert_eq!(
        ids_of(&beyond),
        Vec::<i64>::new(),
        "an offset past the end is an empty page"
    );
    assert_eq!(
        beyond["count"], 12,
        "still counted, with no row to carry it"
    );
    let default_limit = get_json(&app, &app.url("/items/?offset=2")).await;
    assert_eq!(ids_of(&default_limit).len(), 10);
}

async fn bad_pagination_parameters_are_400_naming_them(app: TestApp) {
    for (query, param) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page_size=0", "page_size"),
        ("page_size=1.5", "page_size"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("offset=-5", "offset"),
        ("count=sometimes", "count"),
        ("count=", "count"),
        ("page=", "page"),
    ] {
        let response = app.get(&format!("/items/?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body[param].is_array(), "{query}: {body}");
    }
}

async fn page_sizes_are_clamped_to_the_maximum(app: TestApp) {
    let db = app.db().await;
    use sea_orm::ConnectionTrait;
    let values: Vec<String> = (0..1005)
        .map(|i| {
            format!(
                "('bulk {i}', '', {i}, true, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 1)"
            )
        })
        .collect();
    db.execute_unprepared(&format!(
        "INSERT INTO items (name, description, price, in_stock, created_at, updated_at, version) VALUES {}",
        values.join(",")
    ))
    .await
    .unwrap();
    for query in [
        "page_size=100000",
        "limit=5000",
        "cursor=&page_size=99999",
        "page_size=99999999999999999999",
        "limit=99999999999999999999",
    ] {
        let page = get_json(&app, &app.url(&format!("/items/?{query}"))).await;
        assert_eq!(page["results"].as_array().unwrap().len(), 1000, "{query}");
        assert!(page["next"].is_string(), "{query}");
    }
    let default = get_json(&app, &app.url("/items/")).await;
    assert_eq!(
        default["results"].as_array().unwrap().len(),
        50,
        "default page size"
    );
    assert_eq!(default["count"], 1005);
}

async fn count_modes(app: TestApp) {
    seed(&app, 3).await;
    let none = get_json(&app, &app.url("/items/?count=none")).await;
    assert!(
        none.get("count").is_some_and(Value::is_null),
        "count=none keeps a null count"
    );
    let estimated = get_json(&app, &app.url("/items/?count=estimated")).await;
    assert_eq!(
        estimated["count"], 3,
        "small tables are counted exactly even when estimated"
    );
    let head = app
        .request(Method::HEAD, "/items/?count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
}
