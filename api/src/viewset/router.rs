//! DRF's `DefaultRouter`: one call registers a resource's list and detail routes, each with
//! and without the trailing slash (no redirects), for the actions the resource has.

use actix_web::web::{self, ServiceConfig};

use super::handlers;
use super::metadata::ResourceInfo;
use super::openapi::{self, ResourceDoc};
use super::resource::{Resource, Writable};

type Registration = Box<dyn Fn(&mut ServiceConfig) + Send + Sync>;

/// The registered resources. Built once; `configure` installs them in each worker's app.
#[derive(Default)]
pub struct Router {
    registrations: Vec<Registration>,
    docs: Vec<ResourceDoc>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// A read-only resource: list and retrieve (`ReadOnlyModelViewSet`).
    pub fn read_only<R: Resource>(self) -> Router {
        let info = web::Data::new(ResourceInfo::new::<R>(false));
        let doc = openapi::read_only::<R>(&info);
        self.add::<R>(
            info,
            doc,
            |list| {
                list.route(web::get().to(handlers::list::<R>))
                    .route(web::head().to(handlers::list::<R>))
            },
            |detail| {
                detail
                    .route(web::get().to(handlers::retrieve::<R>))
                    .route(web::head().to(handlers::retrieve::<R>))
            },
        )
    }

    /// A resource with every action (`ModelViewSet`).
    pub fn model<R: Writable>(self) -> Router {
        assert!(
            <R::Entity as infrastructure::repository::Table>::version_column().is_some(),
            "{}: a writable resource's table needs a version column (ETags, If-Match)",
            R::NAME
        );
        let info = web::Data::new(ResourceInfo::new::<R>(true));
        let doc = openapi::writable::<R>(&info);
        self.add::<R>(
            info,
            doc,
            |list| {
                list.route(web::get().to(handlers::list::<R>))
                    .route(web::head().to(handlers::list::<R>))
                    .route(web::post().to(handlers::create::<R>))
            },
            |detail| {
                detail
                    .route(web::get().to(handlers::retrieve::<R>))
                    .route(web::head().to(handlers::retrieve::<R>))
                    .route(web::put().to(handlers::update::<R>))
                    .route(web::patch().to(handlers::partial_update::<R>))
                    .route(web::delete().to(handlers::destroy::<R>))
            },
        )
    }

    fn add<R: Resource>(
        mut self,
        info: web::Data<ResourceInfo>,
        doc: ResourceDoc,
        list_routes: fn(actix_web::Resource) -> actix_web::Resource,
        detail_routes: fn(actix_web::Resource) -> actix_web::Resource,
    ) -> Router {
        self.docs.push(doc);
        self.registrations
            .push(Box::new(move |config: &mut ServiceConfig| {
                let path = R::PATH.trim_matches('/');
                // Named after their pattern: the route label of logs and metrics. Each route
                // is two resources, with and without the trailing slash, rather than one
                // resource of two patterns, which would run a regex set and then the
                // pattern's regex.
                let list_name = format!("/{path}/");
                for pattern in [format!("/{path}"), list_name.clone()] {
                    let list = web::resource(pattern)
                        .name(&list_name)
                        .app_data(info.clone());
                    config.service(
                        list_routes(list)
                            .route(
                                web::method(actix_web::http::Method::OPTIONS)
                                    .to(handlers::list_options::<R>),
                            )
                            .default_service(web::to(handlers::list_not_allowed)),
                    );
                }
                let detail_name = format!("/{path}/{{id}}");
                for pattern in [detail_name.clone(), format!("/{path}/{{id}}/")] {
                    let detail = web::resource(pattern)
                        .name(&detail_name)
                        .app_data(info.clone());
                    config.service(
                        detail_routes(detail)
                            .route(
                                web::method(actix_web::http::Method::OPTIONS)
                                    .to(handlers::detail_options::<R>),
                            )
                            .default_service(web::to(handlers::detail_not_allowed)),
                    );
                }
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
        for registration in &self.registrations {
            registration(config);
        }
    }
}
