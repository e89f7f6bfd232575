//! Building the responses of actions: one row with its ETag, a created row with its
//! `Location`, a page in DRF's envelope with absolute `next`/`previous` links.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use domain::query::names::{CURSOR, OFFSET, PAGE};
use domain::query::{Cursor, ListParams, Pagination};
use infrastructure::repository::{Page, Repository, Table};
use serde::Serialize;

use super::Ctx;
use super::conditional::{content_etag, etag, not_modified};
use super::links::{detail_url, origin, with_query};
use super::resource::{Model, Resource};
use crate::error::{ApiError, ApiResult};

fn json_bytes<T: Serialize>(value: &T) -> ApiResult<Vec<u8>> {
    let mut body = Vec::with_capacity(512);
    serde_json::to_writer(&mut body, value)
        .map_err(|e| ApiError::Internal(format!("serialising a response: {e}")))?;
    Ok(body)
}

/// One row as JSON with its `ETag`; a GET whose `If-None-Match` matches gets 304.
pub fn representation<R: Resource>(
    ctx: &Ctx<'_>,
    status: StatusCode,
    model: Model<R>,
    location: Option<String>,
) -> ApiResult {
    let version = Repository::<R::Entity>::version_of(&model);
    let body = json_bytes(&R::Read::from(model))?;
    let tag = match version {
        Some(version) => etag(version),
        None => content_etag(&body),
    };
    let tag_value = HeaderValue::from_str(&tag).map_err(|e| ApiError::Internal(e.to_string()))?;
    if status == StatusCode::OK && ctx.request.method().is_safe() && not_modified(ctx.request, &tag)
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag_value))
            .finish());
    }
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::ETAG, tag_value))
        .content_type(mime_json());
    if let Some(location) = location {
        response.insert_header((header::LOCATION, location));
    }
    Ok(response.body(body))
}

fn mime_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// 201 with the new row, its `Location` and its `ETag`.
pub fn created<R: Resource>(ctx: &Ctx<'_>, model: Model<R>) -> ApiResult {
    let location = detail_url(ctx, R::PATH, <R::Entity as Table>::key(&model));
    representation::<R>(ctx, StatusCode::CREATED, model, Some(location))
}

/// DRF's envelope. Cursor pages have no `count` key; `count=none` makes it `null`.
#[derive(Serialize)]
struct Envelope<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<Option<u64>>,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

/// A page of rows with its links. A page number past the last page is 404 (DRF).
pub fn page<R: Resource>(ctx: &Ctx<'_>, params: &ListParams, page: Page<Model<R>>) -> ApiResult {
    let origin = origin(ctx);
    let link = |changes: &[(&str, Option<String>)]| Some(with_query(ctx.request, &origin, changes));
    let (count, next, previous) = match &params.pagination {
        Pagination::Page { number, .. } => {
            if page.rows.is_empty() && *number > 1 {
                return Err(ApiError::InvalidPage);
            }
            let next = page
                .has_next
                .then(|| link(&[(PAGE, Some((number + 1).to_string()))]))
                .flatten();
            let previous = match number {
                1 => None,
                2 => link(&[(PAGE, None)]),
                n => link(&[(PAGE, Some((n - 1).to_string()))]),
            };
            (Some(page.count), next, previous)
        }
        Pagination::LimitOffset { limit, offset } => {
            let next = page
                .has_next
                .then(|| link(&[(OFFSET, Some((offset + limit).to_string()))]))
                .flatten();
            let previous = if *offset == 0 {
                None
            } else if offset > limit {
                link(&[(OFFSET, Some((offset - limit).to_string()))])
            } else {
                link(&[(OFFSET, None)])
            };
            (Some(page.count), next, previous)
        }
        Pagination::Cursor { .. } => {
            let key = params.ordering_key();
            let cursor = |before: bool, values: &Option<Vec<_>>| {
                let encoded = Cursor {
                    before,
                    values: values.clone()?,
                }
                .encode(&key);
                link(&[(CURSOR, Some(encoded))])
            };
            let next = if page.has_next {
                cursor(false, &page.last)
            } else {
                None
            };
            let previous = if page.has_previous {
                cursor(true, &page.first)
            } else {
                None
            };
            (None, next, previous)
        }
    };
    let results: Vec<R::Read> = page.rows.into_iter().map(R::Read::from).collect();
    let body = json_bytes(&Envelope {
        count,
        next,
        previous,
        results,
    })?;
    Ok(HttpResponse::Ok().content_type(mime_json()).body(body))
}
