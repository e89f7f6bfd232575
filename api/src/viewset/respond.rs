//! Building the responses of actions: one row with its ETag, a created row with its
//! `Location`, a page in DRF's envelope with absolute `next`/`previous` links.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use infrastructure::repository::{Page, Repository, Table};
use std::collections::HashSet;
use std::str::FromStr;

use domain::query::Value;
use sea_orm::{EntityTrait, ModelTrait};
use serde::Serialize;

use super::Ctx;
use super::conditional::{content_etag, etag, expanded_etag, if_match_fails, not_modified};
use super::expand::{Expanded, Expansion, Targets};
use super::links::{detail_url, origin, with_query};
use super::pagination::ListRequest;
use super::relations;
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
    let read = status == StatusCode::OK && ctx.request.method().is_safe();
    if read && if_match_fails(ctx.request, &tag) {
        return Err(ApiError::PreconditionFailed);
    }
    if read && not_modified(ctx.request, &tag) {
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

/// The targets of the relations in `expand` for these rows (one statement per relation).
async fn targets<R: Resource>(
    ctx: &Ctx<'_>,
    expand: &[usize],
    rows: &[Model<R>],
) -> ApiResult<Vec<Targets>> {
    relations::targets(ctx.db(), ctx.relations(), expand, |relation| {
        let Ok(column) = <R::Entity as EntityTrait>::Column::from_str(relation.column) else {
            return Vec::new();
        };
        // Keys are integers or text (`key_of`): each kept once, without a copy per row.
        let (mut numbers, mut texts) = (HashSet::new(), HashSet::new());
        let mut keys = Vec::new();
        for key in rows
            .iter()
            .filter_map(|row| relations::key_of(row.get(column)))
        {
            let new = match &key {
                Value::Integer(v) => numbers.insert(*v),
                Value::Text(v) => !texts.contains(v) && texts.insert(v.clone()),
                _ => false,
            };
            if new {
                keys.push(key);
            }
        }
        keys
    })
    .await
}

/// One row with the relations in `expand` showing their targets. Its ETag is the row's
/// version with a hash of the content ([`expanded_etag`]), since the targets change on their
/// own; a row without a version gets its content's.
pub async fn expanded<R: Resource>(ctx: &Ctx<'_>, model: Model<R>, expand: &[usize]) -> ApiResult {
    let version = Repository::<R::Entity>::version_of(&model);
    let expansion = Expansion::new(targets::<R>(ctx, expand, std::slice::from_ref(&model)).await?);
    let body = json_bytes(&Expanded {
        row: R::Read::from(model),
        expansion: &expansion,
    })?;
    let tag = match version {
        Some(version) => expanded_etag(version, &body),
        None => content_etag(&body),
    };
    let tag_value = HeaderValue::from_str(&tag).map_err(|e| ApiError::Internal(e.to_string()))?;
    if if_match_fails(ctx.request, &tag) {
        return Err(ApiError::PreconditionFailed);
    }
    if not_modified(ctx.request, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag_value))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, tag_value))
        .content_type(mime_json())
        .body(body))
}

/// 201 with the new row, its `Location` and its `ETag`.
pub fn created<R: Resource>(ctx: &Ctx<'_>, model: Model<R>) -> ApiResult {
    let location = detail_url(ctx, R::PATH, <R::Entity as Table>::key(&model));
    representation::<R>(ctx, StatusCode::CREATED, model, Some(location))
}

/// Says whether a page's `count` is exact or the planner's estimate.
pub const COUNT_KIND: &str = "x-count-kind";

/// DRF's envelope. Styles that do not count (cursor pages) have no `count` key;
/// `count=none` makes it `null`.
#[derive(Serialize)]
struct Body<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<Option<u64>>,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

/// A page of rows with the links its pagination style makes; relations in `expand` show
/// their targets (one statement per relation for the whole page).
pub async fn page<R: Resource>(
    ctx: &Ctx<'_>,
    request: &ListRequest,
    page: Page<Model<R>>,
) -> ApiResult {
    let origin = origin(ctx);
    let link = |changes: &[(&str, Option<String>)]| Some(with_query(ctx.request, &origin, changes));
    let envelope = request.envelope(&page, &link)?;
    let body = if request.expand.is_empty() {
        let results: Vec<R::Read> = page.rows.into_iter().map(R::Read::from).collect();
        json_bytes(&Body {
            count: envelope.count,
            next: envelope.next,
            previous: envelope.previous,
            results,
        })?
    } else {
        let expansion = Expansion::new(targets::<R>(ctx, &request.expand, &page.rows).await?);
        let results: Vec<Expanded<'_, R::Read>> = page
            .rows
            .into_iter()
            .map(|row| Expanded {
                row: R::Read::from(row),
                expansion: &expansion,
            })
            .collect();
        json_bytes(&Body {
            count: envelope.count,
            next: envelope.next,
            previous: envelope.previous,
            results,
        })?
    };
    let mut response = HttpResponse::Ok();
    response.content_type(mime_json());
    if let Some(Some(_)) = envelope.count {
        let kind = if envelope.estimated {
            "estimated"
        } else {
            "exact"
        };
        response.insert_header((COUNT_KIND, HeaderValue::from_static(kind)));
    }
    Ok(response.body(body))
}
