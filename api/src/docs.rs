//! The documentation surface: the OpenAPI 3.1 document at `/api-docs/openapi.json`, built
//! from the registered resources, Swagger UI at `/swagger-ui/` and ReDoc at `/redoc` (both
//! with their assets compiled into the binary: they work offline), and an index at `/`.

use actix_web::http::header::{self, CacheControl, CacheDirective, ContentType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde_json::json;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, Paths};
use utoipa_swagger_ui::SwaggerUi;

use crate::health::get_and_head;
use crate::settings::Settings;
use crate::viewset::Router;
use crate::viewset::openapi::{
    BEARER_AUTH, ERROR_DETAIL, METADATA, TOKEN_AUTH, VALIDATION_ERROR, response, schema,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";
pub const SWAGGER_UI_PATH: &str = "/swagger-ui/";
pub const REDOC_PATH: &str = "/redoc";

/// ReDoc's page and its standalone bundle (see `api/static/redoc/README.md`).
const REDOC_PAGE: &str = include_str!("../static/redoc/index.html");
const REDOC_BUNDLE: &[u8] = include_bytes!("../static/redoc/redoc.standalone.js");

/// The OpenAPI document of the service and every resource `router` registered, as served
/// with `settings` (permissions and throttling change the operations' answers, and
/// `/metrics` is in it when it is served on the API's port).
pub fn document(router: &Router, settings: &Settings) -> OpenApi {
    let (permission, throttled) = (settings.auth.permission, settings.throttle.enabled);
    let mut components = ComponentsBuilder::new()
        .schema(ERROR_DETAIL, schema(json!({
            "type": "object",
            "description": "A request-wide error, as DRF writes it.",
            "required": ["detail"],
            "properties": {"detail": {"type": "string"}}
        })))
        .schema(VALIDATION_ERROR, schema(json!({
            "type": "object",
            "description": "Messages keyed by the field or query parameter they are about.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "example": {"name": ["This field may not be blank."]}
        })))
        .schema(METADATA, schema(json!({
            "type": "object",
            "description": "DRF-style metadata of a resource.",
            "required": ["name", "renders", "parses"],
            "properties": {
                "name": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "renders": {"type": "array", "items": {"type": "string"}},
                "parses": {"type": "array", "items": {"type": "string"}},
                "actions": {"type": "object"},
                "filters": {"type": "object"},
                "search_fields": {"type": "array", "items": {"type": "string"}},
                "ordering_fields": {"type": "array", "items": {"type": "string"}}
            }
        })))
        .schema("Health", schema(json!({
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}, "database": {"type": "string"}, "detail": {"type": "string"}}
        })));
    let mut paths = health_paths(metrics_on_api_port(settings));
    let mut tags = vec![
        TagBuilder::new()
            .name("health")
            .description(Some("Liveness and readiness probes."))
            .build(),
    ];
    components = components
        .security_scheme(
            TOKEN_AUTH,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>`, with a key from `api token create`.",
            ))),
        )
        .security_scheme(
            BEARER_AUTH,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    for resource in router.docs() {
        let mut doc = resource.clone();
        doc.secure(permission, throttled);
        paths.paths.extend(doc.paths.paths.clone());
        for (name, schema) in &doc.schemas {
            components = components.schema(name.clone(), schema.clone());
        }
        tags.push(
            TagBuilder::new()
                .name(doc.tag.0.clone())
                .description(Some(doc.tag.1.clone()))
                .build(),
        );
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Items API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A DRF-style CRUD service. Lists paginate by page number (default), limit/offset or cursor; \
                     filters use django-filter lookups (`price__gte`); `search` and `ordering` take comma-separated terms. \
                     Every route also answers with or without a trailing slash, and HEAD on every GET route. \
                     Errors are JSON: `{\"detail\": ...}` or messages keyed by field.",
                )),
        )
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(tags))
        .build()
}

/// Whether `/metrics` is served beside the API (no `server.metrics_port` of its own).
pub fn metrics_on_api_port(settings: &Settings) -> bool {
    settings.server.metrics_port == 0
}

fn health_paths(metrics: bool) -> Paths {
    let health = reference_health();
    let live = OperationBuilder::new()
        .tag("health")
        .operation_id(Some("health_live"))
        .summary(Some("Liveness: the process answers"))
        .response("200", response("Alive.", Some(health.clone())))
        .build();
    let ready = OperationBuilder::new()
        .tag("health")
        .operation_id(Some("health_ready"))
        .summary(Some("Readiness: the database answers"))
        .response("200", response("Ready.", Some(health.clone())))
        .response(
            "503",
            response("The database does not answer.", Some(health)),
        )
        .build();
    let text = utoipa::openapi::ContentBuilder::new()
        .schema(Some(schema(json!({"type": "string"}))))
        .build();
    let metrics_operation = OperationBuilder::new()
        .tag("health")
        .operation_id(Some("metrics"))
        .summary(Some("Prometheus metrics"))
        .description(Some(
            "Requests by method, route and status, their latency histogram, requests in flight, the database \
             pool (max, open, idle, waiting), the statements sent and the connections discarded after a failure, \
             dropped log lines, throttle store failures and build information, in Prometheus' text format. Never throttled \
             nor authenticated: expose it to your monitoring network only.",
        ))
        .response("200", response("The metrics.", None).content("text/plain; version=0.0.4", text))
        .build();
    let paths = Paths::builder()
        .path("/health/live", PathItem::new(HttpMethod::Get, live))
        .path("/health/ready", PathItem::new(HttpMethod::Get, ready));
    if metrics {
        paths.path(
            "/metrics",
            PathItem::new(HttpMethod::Get, metrics_operation),
        )
    } else {
        paths
    }
    .build()
}

fn reference_health() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    schema(json!({"$ref": "#/components/schemas/Health"}))
}

/// Swagger UI, the document it shows, `/swagger-ui` without the slash, ReDoc, and `/`
/// (which links `/metrics` when `metrics` says it is on this port).
pub fn configure(
    config: &mut web::ServiceConfig,
    openapi: OpenApi,
    resources: &[String],
    metrics: bool,
) {
    let mut index = json!({
        "name": "Items API",
        "version": env!("CARGO_PKG_VERSION"),
        "docs": {"swagger_ui": SWAGGER_UI_PATH, "redoc": REDOC_PATH, "openapi": OPENAPI_PATH},
        "health": {"live": "/health/live", "ready": "/health/ready"},
        "resources": resources.iter().map(|path| format!("/{path}/")).collect::<Vec<_>>(),
    });
    if metrics {
        index["metrics"] = json!("/metrics");
    }
    let files = format!("{SWAGGER_UI_PATH}{{_:.*}}");
    let document = web::Data::new(openapi.clone());
    config
        // Swagger UI's own service answers GET; the resources after it, on the same paths,
        // HEAD and the other methods.
        .service(SwaggerUi::new(files.clone()).url(OPENAPI_PATH, openapi))
        .service(get_and_head(OPENAPI_PATH, move || {
            let document = document.clone();
            async move { HttpResponse::Ok().json(document.as_ref()) }
        }))
        .service(get_and_head(&files, swagger_file))
        .service(get_and_head("/swagger-ui", || async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, SWAGGER_UI_PATH))
                .finish()
        }))
        .service(get_and_head(REDOC_PATH, redoc_page))
        .service(get_and_head("/redoc/", redoc_page))
        .service(get_and_head("/redoc/redoc.standalone.js", redoc_bundle))
        .service(get_and_head("/", move || {
            let index = index.clone();
            async move { HttpResponse::Ok().json(index) }
        }));
}

/// A file of Swagger UI, for the HEAD requests its own service does not answer.
async fn swagger_file(path: web::Path<String>) -> HttpResponse {
    let config = std::sync::Arc::new(utoipa_swagger_ui::Config::new([OPENAPI_PATH]));
    match utoipa_swagger_ui::serve(&path.into_inner(), config) {
        Ok(Some(file)) => HttpResponse::Ok()
            .content_type(file.content_type)
            .body(file.bytes.into_owned()),
        _ => HttpResponse::NotFound().json(json!({"detail": "Not found."})),
    }
}

/// What ReDoc's page may load: only this service's own resources, so the page works, and
/// stays silent, without network access (the bundle's footer asks for a logo on a CDN: the
/// browser refuses it and ReDoc leaves it out). ReDoc injects its styles and runs its search
/// in a worker made from a `blob:` URL.
const REDOC_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn redoc_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CONTENT_SECURITY_POLICY, REDOC_CSP))
        .body(REDOC_PAGE)
}

/// The bundle never changes within a build, and the page asks for it with ReDoc's version in
/// the query string: browsers may keep it for a year.
async fn redoc_bundle() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(365 * 24 * 3600),
            CacheDirective::Extension("immutable".into(), None),
        ]))
        .body(Bytes::from_static(REDOC_BUNDLE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    #[test]
    fn documents_every_operation_of_every_resource() {
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let environment = crate::settings::Environment::Development;
        let settings = Settings::load_from(&config, environment, Default::default()).unwrap();
        let document =
            serde_json::to_value(document(&resources::register(Router::new()), &settings)).unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        let items = &document["paths"]["/items/"];
        let item = &document["paths"]["/items/{id}"];
        for (operation, id) in [
            (&items["get"], "items_list"),
            (&items["post"], "items_create"),
            (&item["get"], "items_retrieve"),
            (&item["put"], "items_update"),
            (&item["patch"], "items_partial_update"),
            (&item["delete"], "items_destroy"),
        ] {
            assert_eq!(operation["operationId"], id);
            assert_eq!(operation["tags"][0], "items");
        }
        let parameters: Vec<&str> = items["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in [
            "page",
            "page_size",
            "limit",
            "offset",
            "cursor",
            "ordering",
            "search",
            "price__gte",
            "id__in",
            "name__icontains",
        ] {
            assert!(parameters.contains(&name), "{name}");
        }
        let create = &document["components"]["schemas"]["ItemCreate"]["properties"]["name"];
        assert_eq!(create["maxLength"], 100);
        assert_eq!(
            item["put"]["responses"]["412"]["description"]
                .as_str()
                .map(|d| d.contains("If-Match")),
            Some(true)
        );
    }
}
