//! Filters (django-filter lookups), search and ordering.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    filters_with_lookups,
    search_is_case_insensitive_and_literal,
    ordering_over_declared_fields_only,
    bad_filter_values_are_400_naming_the_parameter,
    unknown_parameters_are_ignored,
);

async fn seed(app: &TestApp) {
    let items = [
        ("Red ball", "A bouncy toy", 5.0, true),
        ("Blue ball", "Sporty", 12.5, false),
        ("Green hat", "Keeps you warm", 20.0, true),
        ("100% cotton shirt", "Made of 100% cotton_fibre", 15.0, true),
        ("Lamp", "Bright light", 12.5, true),
    ];
    for (name, description, price, in_stock) in items {
        let response = app.post_item(&json!({"name": name, "description": description, "price": price, "in_stock": in_stock})).await;
        assert_eq!(response.status(), 201);
    }
}

async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/items/?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.unwrap();
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

async fn filters_with_lookups(app: TestApp) {
    seed(&app).await;
    assert_eq!(names(&app, "in_stock=false").await, ["Blue ball"]);
    assert_eq!(
        names(&app, "price__gte=10&price__lte=15").await,
        ["Blue ball", "100% cotton shirt", "Lamp"]
    );
    assert_eq!(
        names(&app, "price__gt=12.5&price__lt=20").await,
        ["100% cotton shirt"]
    );
    assert_eq!(names(&app, "price=12.5").await, ["Blue ball", "Lamp"]);
    assert_eq!(names(&app, "name=Lamp").await, ["Lamp"]);
    assert_eq!(
        names(&app, "name=lamp").await,
        Vec::<String>::new(),
        "exact is case-sensitive"
    );
    assert_eq!(
        names(&app, "name__icontains=BALL").await,
        ["Red ball", "Blue ball"]
    );
    assert_eq!(names(&app, "name__istartswith=gr").await, ["Green hat"]);
    let first_two: Vec<i64> = {
        let page: Value = app.get("/items/?page_size=2").await.json().await.unwrap();
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let query = format!("id__in={},{}", first_two[0], first_two[1]);
    assert_eq!(names(&app, &query).await, ["Red ball", "Blue ball"]);
    assert_eq!(
        names(&app, "in_stock=true&price__lt=13").await,
        ["Red ball", "Lamp"]
    );
    let page: Value = app
        .get("/items/?in_stock=true&page_size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["count"], 4, "count is of the filtered rows");
    assert!(
        page["next"].as_str().unwrap().contains("in_stock=true"),
        "links keep the filters"
    );
    let created = app
        .get("/items/?created_at__gte=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(created.json::<Value>().await.unwrap()["count"], 5);
    let none = app
        .get("/items/?created_at__lt=2000-01-01T00:00:00%2B00:00")
        .await;
    assert_eq!(none.json::<Value>().await.unwrap()["count"], 0);
    // A bound a nanosecond after a row's microsecond: after the row, on both databases.
    let row: Value = app
        .get("/items/?ordering=id&page_size=1")
        .await
        .json()
        .await
        .unwrap();
    let at =
        chrono::DateTime::parse_from_rfc3339(row["results"][0]["created_at"].as_str().unwrap())
            .unwrap()
            + chrono::Duration::nanoseconds(1);
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let id = &row["results"][0]["id"];
    for (lookup, count) in [("gte", 0), ("gt", 0), ("lt", 1), ("lte", 1)] {
        let page: Value = app
            .get(&format!("/items/?id={id}&created_at__{lookup}={at}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["count"], count, "created_at__{lookup}={at}");
    }
}

async fn search_is_case_insensitive_and_literal(app: TestApp) {
    seed(&app).await;
    assert_eq!(names(&app, "search=BALL").await, ["Red ball", "Blue ball"]);
    assert_eq!(
        names(&app, "search=warm").await,
        ["Green hat"],
        "description is searched"
    );
    assert_eq!(
        names(&app, "search=ball%20red").await,
        ["Red ball"],
        "every term must match"
    );
    assert_eq!(
        names(&app, "search=100%25").await,
        ["100% cotton shirt"],
        "% is a literal"
    );
    assert_eq!(
        names(&app, "search=n_f").await,
        ["100% cotton shirt"],
        "_ is a literal"
    );
    assert_eq!(names(&app, "search=%25").await, ["100% cotton shirt"]);
    assert_eq!(names(&app, "search=_").await, ["100% cotton shirt"]);
    assert_eq!(
        names(&app, "search=%5C").await,
        Vec::<String>::new(),
        "\\ is a literal"
    );
    assert_eq!(
        names(&app, "name__icontains=%25").await,
        ["100% cotton shirt"]
    );
    // A value matches its own text, whatever its script: both sides are lower-cased by the
    // database (a final sigma, a dotted capital I).
    let created = app
        .post_item(&json!({"name": "ΣΊΣΥΦΟΣ İzmir", "description": "", "price": 1}))
        .await;
    assert_eq!(created.status(), 201);
    for query in [
        "search=ΣΊΣΥΦΟΣ",
        "search=ΟΣ%20İzmir",
        "name__icontains=ΥΦΟΣ",
        "name__istartswith=ΣΊΣΥΦΟΣ%20İ",
    ] {
        assert_eq!(names(&app, query).await, ["ΣΊΣΥΦΟΣ İzmir"], "{query}");
    }
    let id = &created.json::<Value>().await.unwrap()["id"];
    let deleted = app
        .request(Method::DELETE, &format!("/items/{id}"))
        .send()
        .await;
    assert_eq!(deleted.unwrap().status(), 204);
    assert_eq!(
        names(&app, "search=').%20DROP%20TABLE%20items;--").await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.get("/items/").await.json::<Value>().await.unwrap()["count"],
        5,
        "nothing was dropped"
    );
}

async fn ordering_over_declared_fields_only(app: TestApp) {
    seed(&app).await;
    assert_eq!(
        names(&app, "ordering=-price,name").await,
        [
            "Green hat",
            "100% cotton shirt",
            "Blue ball",
            "Lamp",
            "Red ball"
        ]
    );
    assert_eq!(
        names(&app, "ordering=price,-name").await,
        [
            "Red ball",
            "Lamp",
            "Blue ball",
            "100% cotton shirt",
            "Green hat"
        ]
    );
    assert_eq!(
        names(&app, "ordering=name").await,
        [
            "100% cotton shirt",
            "Blue ball",
            "Green hat",
            "Lamp",
            "Red ball"
        ]
    );
    for query in [
        "ordering=secret_column",
        "ordering=-version",
        "ordering=price,description",
        "ordering=name;drop",
    ] {
        let response = app.get(&format!("/items/?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["ordering"][0]
                .as_str()
                .unwrap()
                .starts_with("Invalid ordering field"),
            "{query}: {body}"
        );
    }
}

async fn bad_filter_values_are_400_naming_the_parameter(app: TestApp) {
    for (query, param) in [
        ("price__gte=cheap", "price__gte"),
        ("price=NaN", "price"),
        ("price__lt=inf", "price__lt"),
        ("in_stock=maybe", "in_stock"),
        ("id__in=1,two", "id__in"),
        ("id=1.5", "id"),
        ("created_at__gte=yesterday", "created_at__gte"),
        // Year 10000 in UTC: the databases would disagree (SQLite compares text).
        ("created_at__gt=9999-12-31T23:59:59-14:00", "created_at__gt"),
    ] {
        let response = app.get(&format!("/items/?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body[param].is_array(), "{query}: {body}");
    }
    let response = app.get("/items/?id__in=1,99999999999999999999").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"id__in": ["Ensure this value is less than or equal to 9223372036854775807."]})
    );
    let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let response = app.get(&format!("/items/?id__in={}", many.join(","))).await;
    assert_eq!(response.status(), 400, "at most 100 values in an __in list");
}

async fn unknown_parameters_are_ignored(app: TestApp) {
    seed(&app).await;
    for query in [
        "_=1700000000",
        "version=3",
        "price__regex=.*",
        "description=x",
        "foo=bar&page=1",
        "price__=1",
        "category__=abc",
    ] {
        let response = app
            .request(Method::GET, &format!("/items/?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["count"],
            5,
            "{query}"
        );
    }
}
