//! Relations (docs/architecture.md, "Relations"), over HTTP on both databases: `Item.category` (nullable,
//! protect) and a test-only `/reviews/` resource whose `item` is required (cascade) and whose
//! `category` is optional (set_null). Every error a relation can answer is in the table of
//! `every_relation_error_in_drf_words_changes_nothing`.

use std::collections::HashSet;

use api::viewset::{OnDelete, Relation, Resource, Router, Writable};
use domain::fields::Fields;
use domain::query::{Filtering, Lookup};
use reqwest::Method;
use reqwest::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use sea_orm::{ConnectionTrait, Schema};
use serde::Serialize;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, answer, spawn_app_with};
use crate::on_databases_with;

mod review {
    use infrastructure::repository::Table;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "reviews")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub item_id: i64,
        pub category_id: Option<i64>,
        pub stars: i32,
        pub version: i64,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "infrastructure::entities::item::Entity",
            from = "Column::ItemId",
            to = "infrastructure::entities::item::Column::Id",
            on_delete = "Cascade"
        )]
        Item,
        #[sea_orm(
            belongs_to = "infrastructure::entities::category::Entity",
            from = "Column::CategoryId",
            to = "infrastructure::entities::category::Column::Id",
            on_delete = "SetNull"
        )]
        Category,
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl Table for Entity {
        type Key = i64;

        fn key(model: &Model) -> i64 {
            model.id
        }

        fn version_column() -> Option<Column> {
            Some(Column::Version)
        }

        fn updated_column() -> Option<Column> {
            Some(Column::UpdatedAt)
        }
    }
}

#[derive(Serialize)]
struct Review {
    id: i64,
    item: i64,
    category: Option<i64>,
    stars: i32,
    updated_at: String,
}

impl From<review::Model> for Review {
    fn from(m: review::Model) -> Self {
        Review {
            id: m.id,
            item: m.item_id,
            category: m.category_id,
            stars: m.stars,
            updated_at: m.updated_at.to_rfc3339(),
        }
    }
}

const REVIEW_FILTERING: Filtering = Filtering {
    filters: &[("stars", &[Lookup::Exact, Lookup::Gte])],
    search: &[],
    ordering: &["id", "stars"],
    default_ordering: &["id"],
};

struct Reviews;

impl Resource for Reviews {
    type Entity = review::Entity;
    type Read = Review;
    const NAME: &'static str = "Review";
    const PATH: &'static str = "reviews";
    const FILTERING: &'static Filtering = &REVIEW_FILTERING;

    fn fields(model: Fields) -> Fields {
        model
            .describe("A review of an item.")
            .field("stars", |f| f.minimum(1.0).maximum(5.0))
    }

    fn relations() -> Vec<Relation> {
        vec![
            Relation::to::<api::resources::Items>(
                "item",
                review::Column::ItemId,
                OnDelete::Cascade,
            ),
            Relation::to::<api::resources::Categories>(
                "category",
                review::Column::CategoryId,
                OnDelete::SetNull,
            ),
        ]
    }
}

impl Writable for Reviews {}

fn register(router: Router) -> Router {
    api::resources::register(router).model::<Reviews>()
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    let app = spawn_app_with(backend, |_| {}, register).await?;
    let db = app.db().await;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(review::Entity))
        .await
        .unwrap();
    Some(app)
}

on_databases_with!(
    super::spawn;
    seed_clients_keep_working_and_see_category_null,
    every_relation_error_in_drf_words_changes_nothing,
    writes_set_keep_and_clear_the_relation,
    expand_costs_one_statement_per_page_whatever_its_size,
    an_expanded_etag_follows_the_target_and_guards_writes,
    related_filters,
    related_ordering_puts_rows_without_a_target_last_and_cursor_pages_are_exact,
    nested_routes_list_and_create_under_the_target,
    on_delete_protect_set_null_and_cascade,
    creating_items_while_their_category_is_deleted_leaves_no_dangling_key,
    deleting_a_category_while_its_last_item_goes_is_a_delete_or_the_409,
    options_and_openapi_describe_the_relations,
);

/// Each of `parts` appears in `text`, after the one before it.
fn assert_in_order(text: &str, parts: &[&str]) {
    let mut from = 0;
    for part in parts {
        match text[from..].find(part) {
            Some(at) => from += at + part.len(),
            None => panic!("{part} after byte {from} of {text}"),
        }
    }
}

impl TestApp {
    async fn category(&self, name: &str) -> i64 {
        let response = self
            .send_json(Method::POST, "/categories/", &json!({ "name": name }))
            .await;
        assert_eq!(response.status(), 201, "creating category {name}");
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    async fn item_in(&self, name: &str, category: Option<i64>) -> i64 {
        let body = json!({"name": name, "description": "", "price": 1, "category": category});
        let (status, body) = answer(self.post_item(&body).await).await;
        assert_eq!(status, 201, "creating item {name}: {body}");
        body["id"].as_i64().unwrap()
    }

    async fn review(&self, item: i64, category: Option<i64>) -> i64 {
        let body = json!({"item": item, "category": category, "stars": 4});
        let (status, body) = answer(self.send_json(Method::POST, "/reviews/", &body).await).await;
        assert_eq!(status, 201, "creating a review: {body}");
        body["id"].as_i64().unwrap()
    }
}

/// A seed-app client never sends `category`: POST, GET, PUT and DELETE work unchanged, and
/// its items read `"category": null`.
async fn seed_clients_keep_working_and_see_category_null(app: TestApp) {
    let created = app.create_item("Widget", 9.99).await;
    assert_eq!(created["category"], Value::Null);
    let path = format!("/items/{}", created["id"]);
    let put = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"name": "Widget", "description": "d", "price": 10.5, "in_stock": false}),
        )
        .await;
    assert_eq!(put.status(), 200);
    let read = app.json(&path).await;
    assert_eq!(
        (read["price"].clone(), read["category"].clone()),
        (json!(10.5), Value::Null)
    );
    let list = app.json("/items/").await;
    assert_eq!(list["results"][0]["category"], Value::Null);
    let text = app.get(&path).await.text().await.unwrap();
    assert_in_order(
        &text,
        &[
            "{\"id\":",
            "\"name\":",
            "\"description\":",
            "\"price\":",
            "\"in_stock\":",
            "\"category\":null",
            "\"created_at\":",
            "\"updated_at\":",
        ],
    );
    let deleted = app.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
}

/// Each request gets DRF's answer, word for word, and stores nothing.
async fn every_relation_error_in_drf_words_changes_nothing(app: TestApp) {
    let tools = app.category("Tools").await;
    let item = app.item_in("Hammer", Some(tools)).await;
    for _ in 0..2 {
        app.item_in("Saw", Some(tools)).await;
    }
    let review = app.review(item, None).await;
    let item_path = format!("/items/{item}");
    let missing = |field: &str, pk: &str| json!({ field: [format!("Invalid pk \"{pk}\" - object does not exist.")] });
    let wrong = |field: &str, kind: &str| json!({ field: [format!("Incorrect type. Expected pk value, received {kind}.")] });
    let base = json!({"name": "a", "description": "", "price": 1});
    let with = |value: Value| {
        let mut body = base.clone();
        body["category"] = value;
        body
    };
    let cases: Vec<(Method, String, Option<Value>, u16, Value)> = vec![
        (
            Method::POST,
            "/items/".into(),
            Some(with(json!(99))),
            400,
            missing("category", "99"),
        ),
        // With other fields refused, the missing key is reported too, as DRF does.
        (
            Method::POST,
            "/items/".into(),
            Some(json!({"name": "", "description": "", "price": 1, "category": 99})),
            400,
            json!({
                "name": ["This field may not be blank."],
                "category": ["Invalid pk \"99\" - object does not exist."],
            }),
        ),
        (
            Method::PATCH,
            item_path.clone(),
            Some(json!({"price": -1, "category": 98})),
            400,
            json!({
                "price": ["Ensure this value is greater than or equal to 0."],
                "category": ["Invalid pk \"98\" - object does not exist."],
            }),
        ),
        (
            Method::POST,
            "/items/".into(),
            Some(with(json!(-1))),
            400,
            missing("category", "-1"),
        ),
        (
            Method::POST,
            "/items/".into(),
            Some(with(json!("1"))),
            400,
            wrong("category", "str"),
        ),
        (
            Method::POST,
            "/items/".into(),
            Some(with(json!(true))),
            400,
            wrong("category", "bool"),
        ),
        (
            Method::POST,
            "/items/".into(),
            Some(with(json!(1.5))),
            400,
            wrong("category", "float"),
        ),
        (
            Method::POST,
            "/items/".into(),
            Some(with(json!([1]))),
            400,
            wrong("category", "list"),
        ),
        (
            Method::POST,
            "/items/".into(),
            Some(with(json!({"id": 1}))),
            400,
            wrong("category", "dict"),
        ),
        (
            Method::PUT,
            item_path.clone(),
            Some(with(json!(99))),
            400,
            missing("category", "99"),
        ),
        (
            Method::PATCH,
            item_path.clone(),
            Some(json!({"category": 99})),
            400,
            missing("category", "99"),
        ),
        (
            Method::PATCH,
            item_path.clone(),
            Some(json!({"category": "x"})),
            400,
            wrong("category", "str"),
        ),
        (
            Method::POST,
            "/reviews/".into(),
            Some(json!({"item": 12345, "stars": 3})),
            400,
            missing("item", "12345"),
        ),
        (
            Method::POST,
            "/reviews/".into(),
            Some(json!({"stars": 3})),
            400,
            json!({"item": ["This field is required."]}),
        ),
        (
            Method::POST,
            "/reviews/".into(),
            Some(json!({"item": null, "stars": 3})),
            400,
            json!({"item": ["This field may not be null."]}),
        ),
        (
            Method::PATCH,
            format!("/reviews/{review}"),
            Some(json!({"category": 777})),
            400,
            missing("category", "777"),
        ),
        (
            Method::GET,
            "/items/?expand=owner".into(),
            None,
            400,
            json!({"expand": ["Invalid expand value: owner. Allowed: category."]}),
        ),
        (
            Method::GET,
            format!("{item_path}?expand=category,nope"),
            None,
            400,
            json!({"expand": ["Invalid expand value: nope. Allowed: category."]}),
        ),
        (
            Method::GET,
            "/items/?category__isnull=maybe".into(),
            None,
            400,
            json!({"category__isnull": ["Enter a valid boolean (true or false)."]}),
        ),
        (
            Method::GET,
            "/items/?category=x".into(),
            None,
            400,
            json!({"category": ["Enter a whole number."]}),
        ),
        (
            Method::GET,
            "/items/?category__in=1,x".into(),
            None,
            400,
            json!({"category__in": ["Enter a whole number."]}),
        ),
        (
            Method::GET,
            "/items/?ordering=category__description".into(),
            None,
            400,
            json!({"ordering": ["Invalid ordering field: category__description. Allowed: id, name, price, created_at, updated_at, category__id, category__name."]}),
        ),
        (
            Method::GET,
            "/categories/999/items/".into(),
            None,
            404,
            json!({"detail": "Not found."}),
        ),
        (
            Method::GET,
            "/categories/abc/items/".into(),
            None,
            404,
            json!({"detail": "Not found."}),
        ),
        (
            Method::GET,
            format!("/categories/%20{tools}/items/"),
            None,
            404,
            json!({"detail": "Not found."}),
        ),
        (
            Method::POST,
            format!("/categories/+{tools}/items/"),
            Some(base.clone()),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            Method::POST,
            "/categories/999/items/".into(),
            Some(base.clone()),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            Method::DELETE,
            format!("/categories/{tools}"),
            None,
            409,
            json!({"detail": "Cannot delete: 3 items refer to this category."}),
        ),
        (
            Method::POST,
            "/categories/".into(),
            Some(json!({"name": "tOOLS"})),
            400,
            json!({"name": ["category with this name already exists."]}),
        ),
    ];
    let snapshot = async |app: &TestApp| {
        (
            app.json("/items/?ordering=id").await,
            app.json("/categories/").await,
            app.json("/reviews/").await,
        )
    };
    let before = snapshot(&app).await;
    for (method, path, body, status, expected) in cases {
        let request = app.request(method.clone(), &path);
        let request = match &body {
            Some(body) => request.json(body),
            None => request,
        };
        let (got, answered) = answer(request.send().await.unwrap()).await;
        assert_eq!(got.as_u16(), status, "{method} {path} {body:?}: {answered}");
        assert_eq!(answered, expected, "{method} {path} {body:?}");
        assert_eq!(
            snapshot(&app).await,
            before,
            "{method} {path} changed something"
        );
    }
}

/// Absent on POST and PUT is `null`; absent on PATCH leaves it; `null` clears it.
async fn writes_set_keep_and_clear_the_relation(app: TestApp) {
    let tools = app.category("Tools").await;
    let garden = app.category("Garden").await;
    let id = app.item_in("Hammer", Some(tools)).await;
    let path = format!("/items/{id}");
    assert_eq!(app.json(&path).await["category"], tools);
    let patch = |body: Value| {
        let app = &app;
        let path = path.clone();
        async move { answer(app.send_json(Method::PATCH, &path, &body).await).await }
    };
    assert_eq!(patch(json!({"price": 2})).await.1["category"], tools);
    assert_eq!(
        patch(json!({"category": garden})).await.1["category"],
        garden
    );
    assert_eq!(
        patch(json!({"category": null})).await.1["category"],
        Value::Null
    );
    assert_eq!(patch(json!({"category": tools})).await.1["category"], tools);
    let (status, put) = answer(
        app.send_json(
            Method::PUT,
            &path,
            &json!({"name": "Hammer", "description": "", "price": 3}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), put["category"].clone()),
        (200, Value::Null)
    );
    let stored = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM items WHERE id = {id} AND category_id IS NULL"
        ))
        .await;
    assert_eq!(stored, 1);
}

/// The ETag of an expanded detail changes when its target does, answers `If-None-Match`, and
/// passes `If-Match` on a write of the row while the row is at that version.
async fn an_expanded_etag_follows_the_target_and_guards_writes(app: TestApp) {
    let tools = app.category("Tools").await;
    let item = app.item_in("hammer", Some(tools)).await;
    let path = format!("/items/{item}");
    let expanded = format!("{path}?expand=category");
    let tag_of = async |path: &str| {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.headers()[ETAG].to_str().unwrap().to_string()
    };
    let first = tag_of(&expanded).await;
    let plain = tag_of(&path).await;
    assert!(
        first.starts_with(&format!("{}.h", plain.trim_end_matches('"'))),
        "{first} {plain}"
    );
    let conditional = |tag: &str, header| {
        app.request(Method::GET, &expanded)
            .header(header, tag.to_string())
    };
    let fresh = conditional(&first, IF_NONE_MATCH).send().await.unwrap();
    assert_eq!(fresh.status(), 304);
    // The category renamed: the item's version is the same, its expanded tag is not.
    let renamed = app
        .send_json(
            Method::PATCH,
            &format!("/categories/{tools}"),
            &json!({"name": "Tools 2"}),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let second = tag_of(&expanded).await;
    assert_ne!(second, first);
    assert_eq!(tag_of(&path).await, plain);
    let stale = conditional(&first, IF_NONE_MATCH).send().await.unwrap();
    assert_eq!(stale.status(), 200, "a changed target is not a cached copy");
    // A write under either expanded tag of this version passes; then the old tags are stale.
    let patch = |tag: &str| {
        app.request(Method::PATCH, &path)
            .header(IF_MATCH, tag.to_string())
            .json(&json!({"price": 5}))
            .send()
    };
    assert_eq!(patch(&first).await.unwrap().status(), 200);
    assert_eq!(
        patch(&second).await.unwrap().status(),
        412,
        "the row has moved on"
    );
    assert_eq!(app.json(&path).await["price"], 5.0);
}

/// `expand` shows the target (null stays null) on lists and detail; a list costs the same
/// number of statements at any page size, one more with `expand`.
async fn expand_costs_one_statement_per_page_whatever_its_size(app: TestApp) {
    let tools = app.category("Tools").await;
    let garden = app.category("Garden").await;
    for i in 0..30 {
        let category = [Some(tools), Some(garden), None][i % 3];
        app.item_in(&format!("item {i}"), category).await;
    }
    let page = app.json("/items/?expand=category&page_size=3").await;
    let results = page["results"].as_array().unwrap();
    assert_eq!(results[0]["category"]["name"], "Tools");
    assert_eq!(results[1]["category"]["name"], "Garden");
    assert_eq!(results[2]["category"], Value::Null);
    // The category is written whole, in its own field order, in the item's place of it.
    let text = app
        .get("/items/?expand=category&page_size=1")
        .await
        .text()
        .await
        .unwrap();
    assert_in_order(
        &text,
        &[
            "\"in_stock\":",
            "\"category\":{\"id\":",
            "\"name\":\"Tools\",\"description\":",
            "\"created_at\":",
            "\"updated_at\":",
            "},\"created_at\":",
        ],
    );
    let first = results[0]["id"].as_i64().unwrap();
    let detail = app.json(&format!("/items/{first}?expand=category")).await;
    assert_eq!(detail["category"]["id"], tools);
    let plain = app.json(&format!("/items/{first}")).await;
    assert_eq!(plain["category"], tools);
    // Only the rows without a category: expand has nothing to fetch.
    let none = app
        .json("/items/?expand=category&category__isnull=true")
        .await;
    assert!(
        none["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["category"].is_null())
    );

    let statements = async |path: &str| {
        let before = app.metric("db_statements_total").await;
        app.json(path).await;
        (app.metric("db_statements_total").await - before) as i64
    };
    let mut counts = Vec::new();
    for size in [3, 10, 30] {
        for expand in ["", "&expand=category"] {
            for style in ["", "&cursor="] {
                let path = format!("/items/?page_size={size}{expand}{style}");
                counts.push(((expand, style), size, statements(&path).await));
            }
        }
    }
    for ((expand, style), size, count) in &counts {
        let same_shape: Vec<i64> = counts
            .iter()
            .filter(|(shape, ..)| *shape == (*expand, *style))
            .map(|(.., c)| *c)
            .collect();
        assert!(
            same_shape.iter().all(|c| c == count),
            "{expand}{style} at {size}: {counts:?}"
        );
    }
    let count_of = |expand: &str, style: &str| {
        counts
            .iter()
            .find(|((e, s), ..)| *e == expand && *s == style)
            .unwrap()
            .2
    };
    // A cursor page is one statement; a counted page may add the planner's estimate
    // (`count=auto` on PostgreSQL).
    assert_eq!(count_of("", "&cursor="), 1);
    assert!((1..=2).contains(&count_of("", "")), "{counts:?}");
    for style in ["", "&cursor="] {
        assert_eq!(
            count_of("&expand=category", style),
            count_of("", style) + 1,
            "expand adds one statement ({style})"
        );
    }
}

async fn related_filters(app: TestApp) {
    let tools = app.category("Power tools").await;
    let garden = app.category("Garden").await;
    let hammer = app.item_in("Hammer", Some(tools)).await;
    let rake = app.item_in("Rake", Some(garden)).await;
    let loose = app.item_in("Loose", None).await;
    let cases: Vec<(String, Vec<i64>)> = vec![
        (format!("category={tools}"), vec![hammer]),
        (format!("category__in={tools},{garden}"), vec![hammer, rake]),
        ("category__isnull=true".into(), vec![loose]),
        ("category__isnull=false".into(), vec![hammer, rake]),
        ("category__name=Garden".into(), vec![rake]),
        ("category__name__icontains=TOOL".into(), vec![hammer]),
        (format!("category__id__in={garden}"), vec![rake]),
        ("category__name__icontains=tool&name=Rake".into(), vec![]),
        ("category__name__icontains=%25".into(), vec![]),
        (
            "category__name__icontains=".into(),
            vec![hammer, rake, loose],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            app.ids(&format!("/items/?ordering=id&{query}")).await,
            expected,
            "{query}"
        );
    }
}

/// Walks cursor pages forward to the end, then back with `previous`: every row once.
async fn walk(app: &TestApp, first: &str) -> (Vec<i64>, Vec<i64>) {
    let mut forward = Vec::new();
    let mut url = app.url(first);
    let last;
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
        forward.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match page["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => {
                last = page;
                break;
            }
        }
        assert!(forward.len() < 100, "no end");
    }
    let mut backward = Vec::new();
    let mut page = last;
    backward.extend(
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|r| r["id"].as_i64().unwrap()),
    );
    while let Some(previous) = page["previous"].as_str() {
        page = app
            .client
            .get(previous)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        backward.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        assert!(backward.len() < 100, "no start");
    }
    backward.reverse();
    (forward, backward)
}

async fn related_ordering_puts_rows_without_a_target_last_and_cursor_pages_are_exact(app: TestApp) {
    let b = app.category("b tools").await;
    let a = app.category("A tools").await;
    let mut by_category = Vec::new();
    for (i, category) in [Some(b), None, Some(a), Some(b), None, Some(a), None]
        .into_iter()
        .enumerate()
    {
        by_category.push((category, app.item_in(&format!("item {i}"), category).await));
    }
    let rank = |category: Option<i64>| match category {
        Some(c) if c == a => 0,
        Some(_) => 1,
        None => 2,
    };
    let mut ascending = by_category.clone();
    ascending.sort_by_key(|(c, id)| (rank(*c), *id));
    let ascending: Vec<i64> = ascending.into_iter().map(|(_, id)| id).collect();
    let mut descending = by_category.clone();
    descending.sort_by_key(|(c, id)| (std::cmp::Reverse(rank(*c)), std::cmp::Reverse(*id)));
    let descending: Vec<i64> = descending.into_iter().map(|(_, id)| id).collect();

    assert_eq!(
        app.ids("/items/?ordering=category__name&page_size=50")
            .await,
        ascending
    );
    assert_eq!(
        app.ids("/items/?ordering=-category__name&page_size=50")
            .await,
        descending
    );
    for (ordering, expected) in [
        ("category__name", &ascending),
        ("-category__name", &descending),
    ] {
        for size in [1, 2, 3] {
            let (forward, backward) = walk(
                &app,
                &format!("/items/?ordering={ordering}&page_size={size}&cursor="),
            )
            .await;
            assert_eq!(&forward, expected, "{ordering} by {size}");
            assert_eq!(&backward, expected, "{ordering} by {size}, backwards");
        }
    }
    // With the acceptance's filters and expand together.
    let (forward, _) = walk(
        &app,
        "/items/?expand=category&category__name__icontains=tool&ordering=category__name&page_size=2&cursor=",
    )
    .await;
    let with_category: Vec<i64> = ascending
        .iter()
        .copied()
        .filter(|id| by_category.iter().any(|(c, i)| i == id && c.is_some()))
        .collect();
    assert_eq!(forward, with_category);
    let unique: HashSet<i64> = forward.iter().copied().collect();
    assert_eq!(unique.len(), forward.len());
}

async fn nested_routes_list_and_create_under_the_target(app: TestApp) {
    let tools = app.category("Tools").await;
    let garden = app.category("Garden").await;
    let hammer = app.item_in("Hammer", Some(tools)).await;
    app.item_in("Rake", Some(garden)).await;
    app.item_in("Loose", None).await;
    let nested = format!("/categories/{tools}/items/");
    assert_eq!(app.ids(&nested).await, vec![hammer]);
    assert_eq!(app.ids(nested.trim_end_matches('/')).await, vec![hammer]);
    // Every list parameter works there, and links stay on the nested route.
    let saw = app.item_in("Saw", Some(tools)).await;
    let page = app
        .json(&format!("{nested}?ordering=-id&page_size=1"))
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["results"][0]["id"], saw);
    assert!(
        page["next"].as_str().unwrap().contains(&nested),
        "{}",
        page["next"]
    );
    assert_eq!(
        app.json(&format!("{nested}?expand=category")).await["results"][0]["category"]["name"],
        "Tools"
    );
    // POST there sets the relation from the URL, whatever the body says.
    let (status, created) = answer(
        app.send_json(
            Method::POST,
            &nested,
            &json!({"name": "Drill", "description": "", "price": 5, "category": garden}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["category"], tools);
    assert_eq!(app.json(&nested).await["count"], 3);
    // What the body says is checked all the same (DRF's serializer runs first): a key of
    // the wrong type or naming no row is a 400, and nothing is stored.
    for (category, error) in [
        (
            json!("x"),
            "Incorrect type. Expected pk value, received str.",
        ),
        (
            json!(true),
            "Incorrect type. Expected pk value, received bool.",
        ),
        (
            json!(999_999),
            "Invalid pk \"999999\" - object does not exist.",
        ),
    ] {
        let (status, body) = answer(
            app.send_json(
                Method::POST,
                &nested,
                &json!({"name": "Saw", "description": "", "price": 5, "category": category}),
            )
            .await,
        )
        .await;
        assert_eq!((status.as_u16(), body), (400, json!({"category": [error]})));
    }
    assert_eq!(app.json(&nested).await["count"], 3);
    // A required relation comes from the URL too.
    let (status, review) = answer(
        app.send_json(
            Method::POST,
            &format!("/items/{hammer}/reviews/"),
            &json!({"stars": 5}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), review["item"].clone()),
        (201, json!(hammer))
    );
    // An Idempotency-Key belongs to its route: reused under another parent it is 422.
    let keyed = async |path: &str| {
        app.request(Method::POST, path)
            .header("Idempotency-Key", "nested-once")
            .json(&json!({"name": "Once", "description": "", "price": 1}))
            .send()
            .await
            .unwrap()
    };
    let first = keyed(&nested).await;
    assert_eq!(first.status(), 201);
    let again = keyed(&nested).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        keyed(&format!("/categories/{garden}/items/"))
            .await
            .status(),
        422
    );
    assert_eq!(keyed("/items/").await.status(), 422);
    let other = app.request(Method::DELETE, &nested).send().await.unwrap();
    assert_eq!(other.status(), 405);
    assert_eq!(other.headers()["allow"], "GET, HEAD, POST, OPTIONS");
}

async fn on_delete_protect_set_null_and_cascade(app: TestApp) {
    let tools = app.category("Tools").await;
    let item = app.item_in("Hammer", Some(tools)).await;
    let other = app.item_in("Saw", None).await;
    let reviewed_in = app.category("Reviewed").await;
    let first = app.review(item, Some(reviewed_in)).await;
    let second = app.review(item, None).await;
    let kept = app.review(other, Some(reviewed_in)).await;
    // protect: one item refers to Tools.
    let (status, body) = answer(
        app.request(Method::DELETE, &format!("/categories/{tools}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            409,
            json!({"detail": "Cannot delete: 1 item refers to this category."})
        )
    );
    // set_null: deleting Reviewed clears the reviews' category (no item refers to it), and
    // bumps their versions and updated times as any write would: their ETags change, so no
    // cache keeps the old category. A delete refused (412) clears nothing.
    let read = async |review: i64| {
        let response = app.get(&format!("/reviews/{review}")).await;
        let tag = response.headers()[ETAG].to_str().unwrap().to_string();
        (tag, response.json::<Value>().await.unwrap())
    };
    let before = [read(first).await, read(second).await, read(kept).await];
    let category = format!("/categories/{reviewed_in}");
    let refused = app
        .request(Method::DELETE, &category)
        .header(IF_MATCH, "\"999\"")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 412);
    for (review, (tag, body)) in [first, second, kept].into_iter().zip(&before) {
        assert_eq!(
            &read(review).await,
            &(tag.clone(), body.clone()),
            "review {review}"
        );
    }
    let deleted = app.request(Method::DELETE, &category).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    for (review, (tag, body)) in [(first, &before[0]), (kept, &before[2])] {
        let (now_tag, now) = read(review).await;
        assert_eq!(now["category"], Value::Null);
        assert_ne!(&now_tag, tag, "review {review}: a new ETag");
        assert!(
            now["updated_at"].as_str() > body["updated_at"].as_str(),
            "{now} {body}"
        );
        let cached = app
            .request(Method::GET, &format!("/reviews/{review}"))
            .header(IF_NONE_MATCH, tag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 200, "the old copy is not fresh");
    }
    assert_eq!(read(second).await, before[1], "no category: untouched");
    // cascade: deleting the item deletes its reviews, and only its.
    let deleted = app
        .request(Method::DELETE, &format!("/items/{item}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for review in [first, second] {
        assert_eq!(app.get(&format!("/reviews/{review}")).await.status(), 404);
    }
    assert_eq!(app.json(&format!("/reviews/{kept}")).await["item"], other);
    // With nothing left referring to it, Tools goes.
    let deleted = app
        .request(Method::DELETE, &format!("/categories/{tools}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

/// Items are created in a category while it is deleted, half of them through the nested
/// route: whatever the interleaving, no item refers to a missing category and no request
/// fails with a 5xx; a create that lost the race is a 400 naming `category`, or under the
/// nested route a 404 (the route names nothing any more).
async fn creating_items_while_their_category_is_deleted_leaves_no_dangling_key(app: TestApp) {
    for round in 0..5 {
        let category = app.category(&format!("Round {round}")).await;
        let creates = (0..6).map(|i| {
            let app = &app;
            async move {
                let body = json!({"name": format!("{round}-{i}"), "description": "", "price": 1, "category": category});
                let path = if i % 2 == 0 {
                    "/items/".to_string()
                } else {
                    format!("/categories/{category}/items/")
                };
                app.send_json(Method::POST, &path, &body).await.status()
            }
        });
        let delete = async {
            app.request(Method::DELETE, &format!("/categories/{category}"))
                .send()
                .await
                .unwrap()
                .status()
        };
        let (statuses, deleted) = tokio::join!(futures_util::future::join_all(creates), delete);
        for status in statuses.iter().chain([&deleted]) {
            assert!(!status.is_server_error(), "round {round}: {status}");
        }
        assert!([204, 409].contains(&deleted.as_u16()), "{deleted}");
        if deleted == 204 {
            let lost: Vec<u16> = statuses.iter().map(|s| s.as_u16()).collect();
            assert_eq!(lost, [400, 404, 400, 404, 400, 404], "round {round}");
        }
        let dangling = app
            .scalar(
                "SELECT COUNT(*) FROM items WHERE category_id IS NOT NULL \
                 AND category_id NOT IN (SELECT id FROM categories)",
            )
            .await;
        assert_eq!(dangling, 0, "round {round}");
    }
}

/// A category is deleted while its only item is: whatever the interleaving, the category's
/// delete succeeds or is the protect rule's 409 (never a refusal that names no referring row), and
/// then a second delete succeeds.
async fn deleting_a_category_while_its_last_item_goes_is_a_delete_or_the_409(app: TestApp) {
    for round in 0..10 {
        let category = app.category(&format!("Last {round}")).await;
        let item = app.item_in(&format!("last-{round}"), Some(category)).await;
        let delete = |path: String| {
            let app = &app;
            async move {
                let response = app.request(Method::DELETE, &path).send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.text().await.unwrap())
            }
        };
        let (item_deleted, category_deleted) = tokio::join!(
            delete(format!("/items/{item}")),
            delete(format!("/categories/{category}"))
        );
        assert_eq!(item_deleted.0, 204, "round {round}");
        match category_deleted {
            (204, _) => {}
            (409, body) => {
                assert_eq!(
                    serde_json::from_str::<Value>(&body).unwrap(),
                    json!({"detail": "Cannot delete: 1 item refers to this category."}),
                    "round {round}"
                );
                let again = delete(format!("/categories/{category}")).await;
                assert_eq!(again.0, 204, "round {round}");
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

async fn options_and_openapi_describe_the_relations(app: TestApp) {
    let options: Value = app
        .request(Method::OPTIONS, "/items/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        options["relations"]["category"],
        json!({"target": "Category", "url": "/categories/", "nullable": true, "on_delete": "protect", "expand": "?expand=category"})
    );
    assert_eq!(options["actions"]["POST"]["category"]["type"], "field");
    assert_eq!(options["actions"]["POST"]["category"]["required"], false);
    assert!(
        options["actions"]["POST"]["category"]
            .get("max_value")
            .is_none(),
        "a relation's key has no bounds of its own (DRF)"
    );
    for filter in [
        "category",
        "category__in",
        "category__isnull",
        "category__name__icontains",
        "category__id__in",
    ] {
        assert!(options["filters"].get(filter).is_some(), "{filter}");
    }
    let reviews: Value = app
        .request(Method::OPTIONS, "/reviews/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reviews["relations"]["item"]["on_delete"], "cascade");
    assert_eq!(reviews["relations"]["category"]["on_delete"], "set_null");
    assert!(
        reviews["filters"].get("item__isnull").is_none(),
        "a required relation has no isnull"
    );

    let doc = app.json("/api-docs/openapi.json").await;
    let category = &doc["components"]["schemas"]["Item"]["properties"]["category"];
    assert_eq!(
        category["oneOf"][1],
        json!({"$ref": "#/components/schemas/Category"})
    );
    assert_eq!(category["oneOf"][0]["type"], json!(["integer", "null"]));
    let writes = &doc["components"]["schemas"]["ItemCreate"]["properties"]["category"];
    assert_eq!(writes["type"], json!(["integer", "null"]));
    // Swagger UI's sample body starts with no category, not a made-up id that is refused.
    assert_eq!(writes["examples"], json!([null]));
    let list = &doc["paths"]["/items/"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "expand",
        "category",
        "category__in",
        "category__isnull",
        "category__name",
        "category__name__icontains",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    // A resource without relations ignores `expand`, on lists and detail alike.
    let category = app.category("Plain").await;
    assert_eq!(app.get("/categories/?expand=category").await.status(), 200);
    assert_eq!(
        app.get(&format!("/categories/{category}?expand=x"))
            .await
            .status(),
        200
    );
    let isnull = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "category__isnull")
        .unwrap();
    assert_eq!(isnull["schema"]["type"], json!(["boolean", "string"]));
    let ordering = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ordering")
        .unwrap();
    let values = ordering["schema"]["items"]["enum"].as_array().unwrap();
    assert!(
        values.contains(&json!("category__name")) && values.contains(&json!("-category__name"))
    );
    let retrieve = &doc["paths"]["/items/{id}"]["get"];
    assert!(
        retrieve["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "expand")
    );
    let nested = &doc["paths"]["/categories/{parent}/items/"];
    assert_eq!(nested["get"]["operationId"], "categories_items_list");
    assert_eq!(nested["post"]["operationId"], "categories_items_create");
    assert_eq!(nested["options"]["operationId"], "categories_items_options");
    assert!(nested["get"]["responses"].get("404").is_some());
    assert!(doc["paths"]["/items/{parent}/reviews/"]["post"].is_object());
    // Every operation declares the parameters its path names.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let wanted: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in item.as_object().unwrap() {
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            for name in &wanted {
                assert!(
                    declared.contains(name),
                    "{method} {path} lacks its `{name}` parameter"
                );
            }
        }
    }
    let conflict = &doc["paths"]["/categories/{id}"]["delete"]["responses"]["409"];
    assert!(
        conflict["description"].as_str().unwrap().contains("items"),
        "{conflict}"
    );
    assert!(
        doc["paths"]["/items/{id}"]["delete"]["responses"]
            .get("409")
            .is_none(),
        "reviews cascade"
    );
}
