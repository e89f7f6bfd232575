//! The actix handlers every registered resource shares. Each builds the request context,
//! authenticates the caller, checks the resource's permission and the caller's rate (DRF's
//! order), then runs the resource's action within the request timeout.

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, Payload};
use actix_web::{HttpRequest, HttpResponse};

use super::resource::{Resource, Writable};
use super::{Ctx, body, idempotency};
use crate::error::{ApiError, ApiResult};
use crate::security;
use infrastructure::database::{Within, within};

async fn handle<R: Resource>(
    request: &HttpRequest,
    action: impl AsyncFnOnce(&Ctx<'_>) -> ApiResult,
) -> ApiResult {
    run(&admit::<R>(request).await?, action).await
}

/// A request with a JSON body: admitted, then its body read, then the action. A body that
/// has not arrived within `server.request_timeout_ms` is a 408 (the client's delay), and the
/// action then gets the whole timeout of its own.
async fn handle_body<R: Resource>(
    request: &HttpRequest,
    payload: Payload,
    action: impl AsyncFnOnce(&Ctx<'_>, Bytes) -> ApiResult,
) -> ApiResult {
    let ctx = admit::<R>(request).await?;
    body::check_content_type(request)?;
    let read = body::read(request, payload, ctx.state.body_limit);
    let body = tokio::time::timeout(ctx.state.request_timeout, read)
        .await
        .unwrap_or(Err(ApiError::BodyTimeout))?;
    run(&ctx, async |ctx| action(ctx, body).await).await
}

/// The caller authenticated, its permission and its rate checked (DRF's order).
async fn admit<R: Resource>(request: &HttpRequest) -> ApiResult<Ctx<'_>> {
    let mut ctx = Ctx::of(request)?;
    ctx.principal = security::authenticate(request, &ctx.state.db).await?;
    if !R::has_permission(&ctx) {
        return Err(ctx.refusal());
    }
    if let Some(throttle) = &ctx.state.throttle {
        let client_ip = ctx.state.proxies.client_ip(request);
        throttle.check(ctx.principal.as_ref(), client_ip).await?;
    }
    Ok(ctx)
}

/// The action, within the request timeout; one that has sent a write the database bounds
/// is let finish, so that its answer says what became of the write.
async fn run(ctx: &Ctx<'_>, action: impl AsyncFnOnce(&Ctx<'_>) -> ApiResult) -> ApiResult {
    let action = async move {
        ctx.check_parent().await?;
        action(ctx).await
    };
    match within(ctx.state.request_timeout, action).await {
        Within::Done(result) => result,
        Within::TimedOut { write_sent } => Err(ApiError::Timeout { write_sent }),
    }
}

pub async fn list<R: Resource>(request: HttpRequest) -> ApiResult {
    handle::<R>(&request, R::list).await
}

pub async fn retrieve<R: Resource>(request: HttpRequest) -> ApiResult {
    handle::<R>(&request, R::retrieve).await
}

pub async fn create<R: Writable>(request: HttpRequest, payload: Payload) -> ApiResult {
    handle_body::<R>(&request, payload, async |ctx, body| {
        // A nested create is another request than a plain one, or one under another parent.
        let path = match &ctx.parent {
            Some((relation, key)) => format!("{}/{key:?}/{}", relation.target.path, R::PATH),
            None => R::PATH.to_string(),
        };
        idempotency::create_once(ctx, &path, &body, async || {
            R::create(ctx, body.clone()).await
        })
        .await
    })
    .await
}

pub async fn update<R: Writable>(request: HttpRequest, payload: Payload) -> ApiResult {
    handle_body::<R>(&request, payload, R::update).await
}

pub async fn partial_update<R: Writable>(request: HttpRequest, payload: Payload) -> ApiResult {
    handle_body::<R>(&request, payload, R::partial_update).await
}

pub async fn destroy<R: Writable>(request: HttpRequest) -> ApiResult {
    handle::<R>(&request, R::destroy).await
}

/// `OPTIONS` on the list route: the metadata computed at registration, describing `POST`
/// if the permission hooks would let this caller make one (DRF's `SimpleMetadata`).
pub async fn list_options<R: Resource>(request: HttpRequest) -> ApiResult {
    handle::<R>(&request, async |ctx| {
        let may_create = R::has_permission(&ctx.as_if(Method::POST));
        Ok(options(
            ctx.info.list_allow,
            ctx.info.list_options.body(may_create),
        ))
    })
    .await
}

/// `OPTIONS` on the detail route of a row that exists (404 otherwise, as for GET),
/// describing `PUT` if the permission hooks, object permission included, would let this
/// caller make one.
pub async fn detail_options<R: Resource>(request: HttpRequest) -> ApiResult {
    handle::<R>(&request, async |ctx| {
        let object = R::get_object(ctx).await?;
        let put = ctx.as_if(Method::PUT);
        let may_update = R::has_permission(&put)
            && R::HAS_OBJECT_PERMISSION.is_none_or(|allows| allows(&put, &object));
        Ok(options(
            ctx.info.detail_allow,
            ctx.info.detail_options.body(may_update),
        ))
    })
    .await
}

fn options(allow: &'static str, body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ALLOW, HeaderValue::from_static(allow)))
        .content_type("application/json")
        .body(body)
}

/// Any other method on a list route: 405 with `Allow`.
pub async fn list_not_allowed(request: HttpRequest) -> ApiResult {
    let ctx = Ctx::of(&request)?;
    Err(ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        allow: ctx.info.list_allow,
    })
}

/// Any other method on a detail route.
pub async fn detail_not_allowed(request: HttpRequest) -> ApiResult {
    let ctx = Ctx::of(&request)?;
    Err(ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        allow: ctx.info.detail_allow,
    })
}
