//! A second, test-only resource, registered with one line and no handler code of its own:
//! read-only, with a string primary key, integer, boolean and nullable fields.

use api::viewset::pagination::{Pagination, Style};
use api::viewset::{Resource, Router};
use domain::fields::Fields;
use domain::query::{Filtering, Lookup};
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, answer, spawn_app_with};
use crate::on_databases_with;

mod country {
    use infrastructure::repository::Table;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "countries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
        pub population: i64,
        pub eu_member: bool,
        pub capital: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Table for Entity {
        type Key = String;

        fn key(model: &Model) -> String {
            model.code.clone()
        }
    }
}

#[derive(Serialize)]
struct Country {
    code: String,
    name: String,
    population: i64,
    eu_member: bool,
    capital: Option<String>,
}

impl From<country::Model> for Country {
    fn from(m: country::Model) -> Self {
        Country {
            code: m.code,
            name: m.name,
            population: m.population,
            eu_member: m.eu_member,
            capital: m.capital,
        }
    }
}

const COUNTRY_FILTERING: Filtering = Filtering {
    filters: &[
        ("code", &[Lookup::Exact, Lookup::In]),
        ("population", &[Lookup::Gte, Lookup::Lt]),
        ("eu_member", &[Lookup::Exact]),
    ],
    search: &["name", "code"],
    ordering: &["name", "population"],
    default_ordering: &["code"],
};

struct Countries;

impl Resource for Countries {
    type Entity = country::Entity;
    type Read = Country;
    const NAME: &'static str = "Country";
    const PATH: &'static str = "countries";
    const FILTERING: &'static Filtering = &COUNTRY_FILTERING;

    fn fields(model: Fields) -> Fields {
        model.describe("A country.")
    }
}

/// The same table, paginated by cursor only (DRF's `CursorPagination` as the view's
/// `pagination_class`).
struct CountryPages;

impl Resource for CountryPages {
    type Entity = country::Entity;
    type Read = Country;
    const NAME: &'static str = "CountryPage";
    const PATH: &'static str = "country-pages";
    const FILTERING: &'static Filtering = &COUNTRY_FILTERING;
    const PAGINATION: Pagination = &[Style::Cursor];
}

/// The app with the test-only resources registered next to the service's own.
pub fn register(router: Router) -> Router {
    api::resources::register(router)
        .read_only::<Countries>()
        .read_only::<CountryPages>()
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |_| {}).await
}

async fn spawn_with(
    backend: Backend,
    configure: impl FnOnce(&mut api::settings::Settings),
) -> Option<TestApp> {
    let app = spawn_app_with(backend, configure, register).await?;
    let db = app.db().await;
    db.execute_unprepared(
        "CREATE TABLE countries (code VARCHAR(2) PRIMARY KEY, name TEXT NOT NULL, population BIGINT NOT NULL, eu_member BOOLEAN NOT NULL, capital TEXT)",
    )
    .await
    .unwrap();
    db.execute_unprepared(
        "INSERT INTO countries VALUES ('FR', 'France', 68000000, true, 'Paris'), ('DE', 'Germany', 84000000, true, 'Berlin'), \
         ('CH', 'Switzerland', 8800000, false, 'Bern'), ('IS', 'Iceland', 380000, false, NULL), ('MT', 'Malta', 530000, true, 'Valletta'), \
         ('NO', 'Norway', 5500000, false, 'Oslo'), ('LU', 'Luxembourg', 660000, true, NULL)",
    )
    .await
    .unwrap();
    Some(app)
}

on_databases_with!(
    super::spawn;
    documented_with_no_documentation_code,
    lists_and_pages_with_a_string_key,
    filters_search_and_ordering,
    retrieve_with_etag_and_404,
    read_only_means_read_only,
    a_resource_chooses_its_pagination
);

on_databases_with!(
    super::spawn_with_an_index_on_name;
    orderings_no_index_leads_are_guarded,
);

/// The countries with an index on `name` (none on `population`), analysed, and lists
/// guarded from one estimated row.
async fn spawn_with_an_index_on_name(backend: Backend) -> Option<TestApp> {
    let app = spawn_with(backend, |settings| {
        settings.pagination.exact_count_threshold = 1;
    })
    .await?;
    let db = app.db().await;
    db.execute_unprepared("CREATE INDEX countries_name ON countries (name)")
        .await
        .unwrap();
    if app.database_url.starts_with("postgres") {
        db.execute_unprepared("ANALYZE countries").await.unwrap();
    }
    Some(app)
}

/// An ordering no B-tree index of the table leads sorts every matching row, whatever the
/// page: a resource gets no such list on a large table, with nothing declared. The service
/// reads the table's indexes from PostgreSQL and serves the ordering up to the threshold of
/// estimated rows, and above it answers 400 naming `ordering` and the orderings an index
/// serves. SQLite has no estimates and serves it.
async fn orderings_no_index_leads_are_guarded(app: TestApp) {
    let postgres = app.database_url.starts_with("postgres");
    for path in [
        "/countries/?ordering=population",
        "/countries/?ordering=-population,name&page=1",
        "/country-pages/?ordering=population&cursor=",
    ] {
        let (status, body) = answer(app.get(path).await).await;
        if postgres {
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(
                body["ordering"][0],
                "Not offered on lists of more than 1 rows (this one has about 7): ordering by \
                 population sorts every matching row (no index serves it). Filter the list \
                 further, or order by name.",
                "{path}"
            );
        } else {
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    // Few enough rows, an indexed ordering, or the resource's own default: served.
    for (path, expected) in [
        ("/countries/?ordering=-population&code=FR", &["FR"][..]),
        (
            "/countries/?ordering=name&eu_member=false",
            &["IS", "NO", "CH"],
        ),
        ("/countries/?eu_member=false", &["CH", "IS", "NO"]),
    ] {
        let (status, body) = answer(app.get(path).await).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(codes(&body), expected, "{path}");
    }
}

/// A cursor-only resource pages by cursor whatever the request says, documents only the
/// cursor's parameters and an envelope with no `count`.
async fn a_resource_chooses_its_pagination(app: TestApp) {
    let mut seen = Vec::new();
    let mut url = app.url("/country-pages/?page_size=3&page=2&offset=1&ordering=name");
    loop {
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        assert!(page.get("count").is_none(), "{page}");
        seen.extend(codes(&page));
        match page["next"].as_str() {
            Some(next) => {
                assert!(next.contains("cursor="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["FR", "DE", "IS", "LU", "MT", "NO", "CH"]);
    // Offsets and page numbers are not its parameters: neither checked nor obeyed.
    assert_eq!(app.get("/country-pages/?offset=-1").await.status(), 200);
    assert_eq!(
        app.get("/country-pages/?cursor=garbage").await.status(),
        400
    );
    let document: Value = app.json("/api-docs/openapi.json").await;
    let parameters: Vec<&str> = document["paths"]["/country-pages/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(parameters.contains(&"cursor") && parameters.contains(&"page_size"));
    for absent in ["page", "limit", "offset", "count"] {
        assert!(!parameters.contains(&absent), "{absent}");
    }
    let envelope = &document["components"]["schemas"]["PaginatedCountryPageList"];
    assert!(envelope["properties"].get("count").is_none(), "{envelope}");
    assert!(
        document["components"]["schemas"]["PaginatedCountryList"]["properties"]["count"]
            .is_object()
    );
}

fn codes(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect()
}

async fn lists_and_pages_with_a_string_key(app: TestApp) {
    let first: Value = app
        .get("/countries/?page_size=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["count"], 7);
    assert_eq!(codes(&first), ["CH", "DE", "FR"]);
    let second: Value = app
        .client
        .get(first["next"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&second), ["IS", "LU", "MT"]);
    let mut seen = Vec::new();
    let mut url = app.url("/countries?cursor=&page_size=2&ordering=-population");
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
        seen.extend(codes(&page));
        match page["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["DE", "FR", "CH", "NO", "LU", "MT", "IS"]);
    let nulls: Value = app.get("/countries/IS").await.json().await.unwrap();
    assert_eq!(nulls["capital"], Value::Null);
}

async fn filters_search_and_ordering(app: TestApp) {
    let page: Value = app
        .get("/countries/?eu_member=false&ordering=population")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&page), ["IS", "NO", "CH"]);
    let page: Value = app
        .get("/countries/?population__gte=1000000&population__lt=70000000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&page), ["CH", "FR", "NO"]);
    let page: Value = app
        .get("/countries/?code__in=FR,MT,XX")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&page), ["FR", "MT"]);
    let page: Value = app
        .get("/countries/?search=LAND")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&page), ["CH", "IS"]);
    let bad = app.get("/countries/?population__gte=many").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.json::<Value>().await.unwrap()["population__gte"].is_array());
    assert_eq!(app.get("/countries/?ordering=capital").await.status(), 400);
}

async fn retrieve_with_etag_and_404(app: TestApp) {
    let response = app.get("/countries/FR/").await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"code": "FR", "name": "France", "population": 68000000, "eu_member": true, "capital": "Paris"})
    );
    let cached = app
        .request(Method::GET, "/countries/FR")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(app.get("/countries/XX").await.status(), 404);
    assert_eq!(app.get("/countries/%27%20OR%201=1").await.status(), 404);
}

async fn read_only_means_read_only(app: TestApp) {
    for (method, path) in [
        (Method::POST, "/countries/"),
        (Method::PUT, "/countries/FR"),
        (Method::PATCH, "/countries/FR"),
        (Method::DELETE, "/countries/FR"),
    ] {
        let response = app
            .request(method.clone(), path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], "GET, HEAD, OPTIONS");
    }
    let options: Value = app
        .request(Method::OPTIONS, "/countries/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(options["name"], "Country List");
    assert!(
        options.get("actions").is_none(),
        "no write actions to describe"
    );
    assert_eq!(app.get("/countries/FR").await.status(), 200, "still there");
    // The service's own resource is unaffected.
    assert_eq!(app.get("/items/").await.status(), 200);
}

async fn documented_with_no_documentation_code(app: TestApp) {
    let spec: Value = app.json("/api-docs/openapi.json").await;
    let list = &spec["paths"]["/countries/"]["get"];
    let detail = &spec["paths"]["/countries/{id}"]["get"];
    assert_eq!(list["operationId"], "countries_list");
    assert_eq!(detail["operationId"], "countries_retrieve");
    assert_eq!(
        detail["parameters"][0]["schema"]["type"], "string",
        "the string key is documented as such"
    );
    assert!(
        spec["paths"]["/countries/"].get("post").is_none(),
        "read-only: no write operations"
    );
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "population__gte",
        "eu_member",
        "code__in",
        "search",
        "ordering",
        "cursor",
    ] {
        assert!(names.contains(&name), "{name} documented");
    }
    assert!(spec["components"]["schemas"]["Country"]["properties"]["capital"].is_object());
    assert!(
        spec["paths"]["/items/"]["post"].is_object(),
        "Item is still documented"
    );
}
