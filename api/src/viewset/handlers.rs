//! The actix handlers every registered resource shares: they build the request context,
//! read the body where there is one, and call the resource's action.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse};

use super::resource::{Resource, Writable};
use super::{Ctx, body};
use crate::error::{ApiError, ApiResult};

pub async fn list<R: Resource>(request: HttpRequest) -> ApiResult {
    R::list(&Ctx::of(&request)?).await
}

pub async fn retrieve<R: Resource>(request: HttpRequest) -> ApiResult {
    R::retrieve(&Ctx::of(&request)?).await
}

async fn json_body(ctx: &Ctx<'_>, payload: Payload) -> ApiResult<actix_web::web::Bytes> {
    body::check_content_type(ctx.request)?;
    body::read(ctx.request, payload, ctx.state.body_limit).await
}

pub async fn create<R: Writable>(request: HttpRequest, payload: Payload) -> ApiResult {
    let ctx = Ctx::of(&request)?;
    let body = json_body(&ctx, payload).await?;
    R::create(&ctx, body).await
}

pub async fn update<R: Writable>(request: HttpRequest, payload: Payload) -> ApiResult {
    let ctx = Ctx::of(&request)?;
    let body = json_body(&ctx, payload).await?;
    R::update(&ctx, body).await
}

pub async fn partial_update<R: Writable>(request: HttpRequest, payload: Payload) -> ApiResult {
    let ctx = Ctx::of(&request)?;
    let body = json_body(&ctx, payload).await?;
    R::partial_update(&ctx, body).await
}

pub async fn destroy<R: Writable>(request: HttpRequest) -> ApiResult {
    R::destroy(&Ctx::of(&request)?).await
}

/// `OPTIONS` on the list route: the metadata computed at registration.
pub async fn list_options(request: HttpRequest) -> ApiResult {
    let ctx = Ctx::of(&request)?;
    Ok(options(ctx.info.list_allow, ctx.info.list_options.clone()))
}

/// `OPTIONS` on the detail route of a row that exists (404 otherwise, as for GET).
pub async fn detail_options<R: Resource>(request: HttpRequest) -> ApiResult {
    let ctx = Ctx::of(&request)?;
    R::get_object(&ctx).await?;
    Ok(options(
        ctx.info.detail_allow,
        ctx.info.detail_options.clone(),
    ))
}

fn options(allow: &'static str, body: actix_web::web::Bytes) -> HttpResponse {
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
