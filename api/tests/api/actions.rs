//! Actions compose like DRF's mixins, and object permissions: test-only resources over one
//! `memos` table.
//!
//! - `/inbox/`: create and list only. No detail route (404); other methods on the list
//!   route are 405 with `Allow`; the document and `OPTIONS` show only what exists.
//! - `/drafts/`: every action but destroy: `DELETE` is 405.
//! - `/memos/`: owned rows. `perform_create` records the caller's token, and
//!   `HAS_OBJECT_PERMISSION` lets only that token change or delete the row (403 for other
//!   tokens, 401 without one); everyone reads.

use api::viewset::{Actions, ActiveModel, Ctx, Model, Resource, Router, Writable};
use domain::fields::Fields;
use domain::query::{Filtering, Lookup};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Schema};
use serde::Serialize;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_databases_with;

mod memo {
    use infrastructure::repository::Table;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "memos")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// The token that created the row.
        pub owner: Option<i64>,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Table for Entity {
        type Key = i64;

        fn key(model: &Model) -> i64 {
            model.id
        }

        fn version_column() -> Option<Column> {
            Some(Column::Version)
        }
    }
}

#[derive(Serialize)]
struct Memo {
    id: i64,
    body: String,
    owner: Option<i64>,
}

impl From<memo::Model> for Memo {
    fn from(m: memo::Model) -> Self {
        Memo {
            id: m.id,
            body: m.body,
            owner: m.owner,
        }
    }
}

const FILTERING: Filtering = Filtering {
    filters: &[("id", &[Lookup::Exact])],
    search: &[],
    ordering: &["id"],
    default_ordering: &["id"],
};

fn memo_fields(model: Fields) -> Fields {
    model.describe("A memo.").field("owner", |f| f.read_only())
}

struct Inbox;
impl Writable for Inbox {}

struct Drafts;
impl Writable for Drafts {}

impl Resource for Inbox {
    type Entity = memo::Entity;
    type Read = Memo;
    const NAME: &'static str = "InboxMemo";
    const PATH: &'static str = "inbox";
    const FILTERING: &'static Filtering = &FILTERING;

    fn fields(model: Fields) -> Fields {
        memo_fields(model)
    }
}

impl Resource for Drafts {
    type Entity = memo::Entity;
    type Read = Memo;
    const NAME: &'static str = "Draft";
    const PATH: &'static str = "drafts";
    const FILTERING: &'static Filtering = &FILTERING;

    fn fields(model: Fields) -> Fields {
        memo_fields(model)
    }
}

/// Owned rows: only the token that created a row may change or delete it.
struct Memos;

fn owner_only(ctx: &Ctx<'_>, row: &Model<Memos>) -> bool {
    ctx.method.is_safe()
        || ctx
            .principal
            .as_ref()
            .is_some_and(|caller| row.owner == Some(caller.token_id))
}

impl Resource for Memos {
    type Entity = memo::Entity;
    type Read = Memo;
    const NAME: &'static str = "Memo";
    const PATH: &'static str = "memos";
    const FILTERING: &'static Filtering = &FILTERING;
    const HAS_OBJECT_PERMISSION: Option<api::viewset::ObjectPermission<Self>> = Some(owner_only);

    fn fields(model: Fields) -> Fields {
        memo_fields(model)
    }
}

impl Writable for Memos {
    async fn perform_create(
        ctx: &Ctx<'_>,
        mut values: ActiveModel<Self>,
    ) -> api::error::ApiResult<Model<Self>> {
        let owner = ctx.principal.as_ref().map(|caller| caller.token_id);
        values.set(memo::Column::Owner, owner.into());
        Ok(ctx.repository::<Self>().insert(values).await?)
    }
}

fn register(router: Router) -> Router {
    api::resources::register(router)
        .actions::<Inbox>(Actions::LIST | Actions::CREATE)
        .actions::<Drafts>(Actions::LIST | Actions::CREATE | Actions::RETRIEVE | Actions::UPDATE)
        .model::<Memos>()
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    let app = spawn_app_with(backend, |_| {}, register).await?;
    let db = app.db().await;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(memo::Entity))
        .await
        .unwrap();
    Some(app)
}

on_databases_with!(
    super::spawn;
    a_create_and_list_resource_has_no_detail_route,
    a_resource_without_destroy_answers_405_to_delete,
    only_the_owner_changes_or_deletes_an_owned_row,
);

async fn body_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn a_create_and_list_resource_has_no_detail_route(app: TestApp) {
    let created = app
        .send_json(Method::POST, "/inbox/", &json!({"body": "hello"}))
        .await;
    assert_eq!(created.status(), 201);
    let id = body_of(created).await["id"].as_i64().unwrap();
    let list = body_of(app.get("/inbox/").await).await;
    assert_eq!(list["count"], 1);
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let response = app.request(method.clone(), "/inbox/").send().await.unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, HEAD, POST, OPTIONS");
    }
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let response = app
            .request(method.clone(), &format!("/inbox/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method}: no detail route");
    }
    let options = body_of(
        app.request(Method::OPTIONS, "/inbox/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(options["actions"]["POST"]["body"].is_object(), "{options}");
    let document = app.json("/api-docs/openapi.json").await;
    let paths = document["paths"].as_object().unwrap();
    assert!(paths["/inbox/"]["get"].is_object() && paths["/inbox/"]["post"].is_object());
    assert!(
        !paths.keys().any(|p| p.starts_with("/inbox/{")),
        "no detail path"
    );
    assert!(document["components"]["schemas"]["InboxMemoPatch"].is_null());
}

async fn a_resource_without_destroy_answers_405_to_delete(app: TestApp) {
    let created = body_of(
        app.send_json(Method::POST, "/drafts/", &json!({"body": "draft"}))
            .await,
    )
    .await;
    let path = format!("/drafts/{}", created["id"]);
    let delete = app.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.headers()["allow"], "GET, HEAD, PUT, PATCH, OPTIONS");
    assert_eq!(app.get(&path).await.status(), 200, "still there");
    let patched = app
        .send_json(Method::PATCH, &path, &json!({"body": "final"}))
        .await;
    assert_eq!(patched.status(), 200);
    let document = app.json("/api-docs/openapi.json").await;
    let detail = &document["paths"]["/drafts/{id}"];
    assert!(detail["patch"].is_object() && detail["delete"].is_null());
}

async fn only_the_owner_changes_or_deletes_an_owned_row(app: TestApp) {
    let handle = app.handle().await;
    let (alice, alice_key) = infrastructure::tokens::create(&handle, "alice")
        .await
        .unwrap();
    let (_, bob_key) = infrastructure::tokens::create(&handle, "bob")
        .await
        .unwrap();
    let as_ = |method: Method, path: &str, key: Option<&str>| {
        let request = app.request(method, path);
        match key {
            Some(key) => request.header("authorization", format!("Token {key}")),
            None => request,
        }
    };
    let created = as_(Method::POST, "/memos/", Some(&alice_key))
        .json(&json!({"body": "mine", "owner": 999}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created = body_of(created).await;
    assert_eq!(
        created["owner"], alice.id,
        "perform_create records the caller"
    );
    let path = format!("/memos/{}", created["id"]);
    // Everyone reads.
    for key in [None, Some(bob_key.as_str())] {
        assert_eq!(
            as_(Method::GET, &path, key).send().await.unwrap().status(),
            200
        );
    }
    // Others may not change or delete it: 403 with a token, 401 without; nothing changes.
    for (key, status) in [(Some(bob_key.as_str()), 403), (None, 401)] {
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let response = as_(method.clone(), &path, key)
                .json(&json!({"body": "theirs"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{method} {key:?}");
        }
    }
    let row = memo::Entity::find_by_id(created["id"].as_i64().unwrap())
        .one(&app.db().await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.body.as_str(), row.version), ("mine", 1));
    // OPTIONS describes PUT only to the owner, whom the object permission lets write.
    for (key, described) in [
        (None, false),
        (Some(bob_key.as_str()), false),
        (Some(alice_key.as_str()), true),
    ] {
        let options = as_(Method::OPTIONS, &path, key).send().await.unwrap();
        assert_eq!(options.status(), 200);
        let options = body_of(options).await;
        assert_eq!(
            options["actions"]["PUT"].is_object(),
            described,
            "{key:?}: {options}"
        );
    }
    // The owner may; If-Match still holds.
    let stale = as_(Method::PATCH, &path, Some(&alice_key))
        .header("if-match", "\"7\"")
        .json(&json!({"body": "stale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let patched = as_(Method::PATCH, &path, Some(&alice_key))
        .header("if-match", "\"1\"")
        .json(&json!({"body": "edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(body_of(patched).await["body"], "edited");
    let deleted = as_(Method::DELETE, &path, Some(&alice_key))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        as_(Method::GET, &path, None).send().await.unwrap().status(),
        404
    );
}
