//! DRF's `DefaultRouter`: one call registers a resource's list and detail routes, each with
//! and without the trailing slash (no redirects), for the actions the resource has.

use actix_web::web::{self, ServiceConfig};
use infrastructure::repository::Table;
use sea_orm::{EntityName, IdenStatic};

use super::actions::Actions;
use super::context::Nested;
use super::handlers;
use super::metadata::ResourceInfo;
use super::openapi::{self, ResourceDoc};
use super::relations::{Graph, Incoming, OnDelete};
use super::resource::{Resource, Writable};

type Registration = Box<dyn Fn(&mut ServiceConfig) + Send + Sync>;

/// The registered resources. Built once; `configure` installs them in each worker's app.
#[derive(Default)]
pub struct Router {
    registrations: Vec<Registration>,
    docs: Vec<ResourceDoc>,
    /// Every registered relation, by target: what deleting a target involves.
    incoming: Vec<Incoming>,
}

type Routes = fn(actix_web::Resource, actix_web::Resource, Actions) -> Pair;
type Pair = (actix_web::Resource, actix_web::Resource);

/// The list and detail routes of the read actions in `actions`.
fn read_routes<R: Resource>(
    list: actix_web::Resource,
    detail: actix_web::Resource,
    actions: Actions,
) -> Pair {
    let (mut list, mut detail) = (list, detail);
    if actions.has(Actions::LIST) {
        list = list
            .route(web::get().to(handlers::list::<R>))
            .route(web::head().to(handlers::list::<R>));
    }
    if actions.has(Actions::RETRIEVE) {
        detail = detail
            .route(web::get().to(handlers::retrieve::<R>))
            .route(web::head().to(handlers::retrieve::<R>));
    }
    (list, detail)
}

/// The list and detail routes of every action in `actions`.
fn routes<R: Writable>(
    list: actix_web::Resource,
    detail: actix_web::Resource,
    actions: Actions,
) -> Pair {
    let (mut list, mut detail) = read_routes::<R>(list, detail, actions);
    if actions.has(Actions::CREATE) {
        list = list.route(web::post().to(handlers::create::<R>));
    }
    if actions.has(Actions::UPDATE) {
        detail = detail
            .route(web::put().to(handlers::update::<R>))
            .route(web::patch().to(handlers::partial_update::<R>));
    }
    if actions.has(Actions::DESTROY) {
        detail = detail.route(web::delete().to(handlers::destroy::<R>));
    }
    (list, detail)
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// A read-only resource: list and retrieve (`ReadOnlyModelViewSet`).
    pub fn read_only<R: Resource>(self) -> Router {
        let info = web::Data::new(ResourceInfo::new::<R>(Actions::READ_ONLY));
        let doc = openapi::read_only::<R>(&info);
        self.add::<R>(info, doc, read_routes::<R>)
    }

    /// A resource with every action (`ModelViewSet`).
    pub fn model<R: Writable>(self) -> Router {
        self.actions::<R>(Actions::ALL)
    }

    /// A resource with the actions in `actions`, as a viewset composed of DRF's mixins:
    /// `Router::new().actions::<Notes>(Actions::LIST | Actions::CREATE)`.
    pub fn actions<R: Writable>(self, actions: Actions) -> Router {
        assert!(
            !actions.writes()
                || <R::Entity as infrastructure::repository::Table>::version_column().is_some(),
            "{}: a writable resource's table needs a version column (ETags, If-Match)",
            R::NAME
        );
        let info = web::Data::new(ResourceInfo::new::<R>(actions));
        let doc = openapi::writable::<R>(&info);
        self.add::<R>(info, doc, routes::<R>)
    }

    fn add<R: Resource>(
        mut self,
        info: web::Data<ResourceInfo>,
        doc: ResourceDoc,
        routes: Routes,
    ) -> Router {
        self.docs.push(doc);
        let source_table = R::Entity::default().table_name();
        let source_version = <R::Entity as Table>::version_column().map(|c| c.as_str());
        let source_updated = <R::Entity as Table>::updated_column().map(|c| c.as_str());
        self.incoming
            .extend(info.relations.iter().map(|relation| Incoming {
                target_table: relation.target.table,
                target_path: relation.target.path,
                source_name: R::NAME,
                source_path: R::PATH,
                source_table,
                column: relation.column,
                on_delete: relation.on_delete,
                source_version,
                source_updated,
            }));
        for doc in &mut self.docs {
            let sources: Vec<&str> = self
                .incoming
                .iter()
                .filter(|i| i.target_path == doc.tag.0 && i.on_delete == OnDelete::Protect)
                .map(|i| i.source_path)
                .collect();
            if !sources.is_empty() {
                openapi::document_protection(doc, &sources);
            }
        }
        self.registrations
            .push(Box::new(move |config: &mut ServiceConfig| {
                let path = R::PATH.trim_matches('/');
                let actions = info.actions;
                // Named after their pattern: the route label of logs and metrics. Each route
                // is two resources, with and without the trailing slash, rather than one
                // resource of two patterns, which would run a regex set and then the
                // pattern's regex.
                let list_name = format!("/{path}/");
                let detail_name = format!("/{path}/{{id}}");
                let patterns = [
                    (format!("/{path}"), format!("/{path}/{{id}}")),
                    (list_name.clone(), format!("/{path}/{{id}}/")),
                ];
                for (list_pattern, detail_pattern) in patterns {
                    let list = web::resource(list_pattern)
                        .name(&list_name)
                        .app_data(info.clone());
                    let detail = web::resource(detail_pattern)
                        .name(&detail_name)
                        .app_data(info.clone());
                    let (list, detail) = routes(list, detail, actions);
                    config.service(
                        list.route(
                            web::method(actix_web::http::Method::OPTIONS)
                                .to(handlers::list_options::<R>),
                        )
                        .default_service(web::to(handlers::list_not_allowed)),
                    );
                    if actions.detail() {
                        config.service(
                            detail
                                .route(
                                    web::method(actix_web::http::Method::OPTIONS)
                                        .to(handlers::detail_options::<R>),
                                )
                                .default_service(web::to(handlers::detail_not_allowed)),
                        );
                    }
                }
                nested::<R>(config, &info, routes);
            }));
        self
    }

    /// The URL segment of every registered resource.
    pub fn paths(&self) -> Vec<String> {
        self.docs.iter().map(|doc| doc.tag.0.clone()).collect()
    }

    /// What the registered resources add to the OpenAPI document.
    pub fn docs(&self) -> &[ResourceDoc] {
        &self.docs
    }

    /// Installs every registered resource's routes.
    pub fn configure(&self, config: &mut ServiceConfig) {
        config.app_data(web::Data::new(Graph {
            incoming: self.incoming.clone(),
        }));
        for registration in &self.registrations {
            registration(config);
        }
    }
}

/// drf-nested-routers: for each relation, `GET` and `POST /{target}/{parent}/{path}/` (with
/// and without the trailing slash) list and create the rows that refer to the target row,
/// when the resource has those actions.
fn nested<R: Resource>(config: &mut ServiceConfig, info: &web::Data<ResourceInfo>, routes: Routes) {
    let actions = info.actions.and(Actions::LIST | Actions::CREATE);
    if actions.is_empty() {
        return;
    }
    let path = R::PATH.trim_matches('/');
    for (i, relation) in info.relations.iter().enumerate() {
        let name = nested_pattern(relation.target.path, path);
        for pattern in [name.trim_end_matches('/').to_string(), name.clone()] {
            let list = web::resource(pattern)
                .name(&name)
                .app_data(info.clone())
                .app_data(Nested(i));
            let (list, _) = routes(list, web::resource(""), actions);
            config.service(
                list.route(
                    web::method(actix_web::http::Method::OPTIONS).to(handlers::list_options::<R>),
                )
                .default_service(web::to(handlers::list_not_allowed)),
            );
        }
    }
}

/// `/categories/{parent}/items/`.
pub fn nested_pattern(target: &str, path: &str) -> String {
    format!("/{}/{{parent}}/{path}/", target.trim_matches('/'))
}
