//! Limit/offset pagination (DRF's `LimitOffsetPagination`): `?limit=` rows from `?offset=`,
//! with the count of all matching rows (`?count=` says how it is computed).

use domain::FieldErrors;
use domain::query::{ListParams, QuerySpec};
use infrastructure::repository::{Counting, Page, Repository, Table};
use serde_json::json;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};

use super::{
    Envelope, Link, PageDefaults, Query, check_offset, count_parameter, counting, positive, whole,
};
use crate::error::ApiResult;
use crate::viewset::openapi::parameter;

pub const LIMIT: &str = "limit";
pub const OFFSET: &str = "offset";
pub const PARAMETERS: &[&str] = &[LIMIT, OFFSET, super::COUNT];

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub limit: u64,
    pub offset: u64,
    pub count: Counting,
}

impl Request {
    pub async fn fetch<E>(
        &self,
        repository: &Repository<'_, E>,
        spec: &QuerySpec,
        params: &ListParams,
    ) -> ApiResult<Page<E::Model>>
    where
        E: Table,
        E::Model: Sync,
    {
        Ok(repository
            .offset_page(spec, params, self.offset, self.limit, self.count)
            .await?)
    }

    pub fn envelope<M>(&self, page: &Page<M>, link: &Link<'_>) -> Envelope {
        let (limit, offset) = (self.limit, self.offset);
        let next = page
            .has_next
            .then(|| link(&[(OFFSET, Some((offset + limit).to_string()))]))
            .flatten();
        let previous = if offset == 0 {
            None
        } else if offset > limit {
            link(&[(OFFSET, Some((offset - limit).to_string()))])
        } else {
            link(&[(OFFSET, None)])
        };
        Envelope {
            count: Some(page.count),
            estimated: page.estimated,
            next,
            previous,
        }
    }
}

pub fn requested(query: &Query<'_>) -> bool {
    query.has(LIMIT) || query.has(OFFSET)
}

pub fn parse(
    query: &Query<'_>,
    defaults: &PageDefaults,
    errors: &mut FieldErrors,
) -> Option<Request> {
    let limit = positive(query, LIMIT, errors);
    let offset = match query.get(OFFSET) {
        None => Some(0),
        Some(value) => whole(value).or_else(|| {
            errors.add(OFFSET, "A non-negative integer is required.");
            None
        }),
    };
    let count = counting(query, defaults, errors);
    let offset = offset.filter(|&offset| check_offset(Some(offset), OFFSET, defaults, errors));
    if query.has(LIMIT) && limit.is_none() {
        return None;
    }
    Some(Request {
        limit: limit
            .unwrap_or(defaults.page_size)
            .min(defaults.max_page_size),
        offset: offset?,
        count,
    })
}

pub fn parameters() -> Vec<(&'static str, ParameterBuilder)> {
    vec![
        (
            LIMIT,
            parameter(
                LIMIT,
                ParameterIn::Query,
                json!({"type": "integer", "minimum": 1}),
                "Rows per page (limit/offset pagination); larger values, however large, are clamped to the configured maximum.",
            ),
        ),
        (
            OFFSET,
            parameter(
                OFFSET,
                ParameterIn::Query,
                json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
                "Rows to skip (limit/offset pagination), up to the configured maximum offset (deeper: 400; use `cursor`).",
            ),
        ),
        count_parameter(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::{ALL, PageRequest};
    use super::*;

    #[test]
    fn limits_are_clamped_and_offsets_validated() {
        let PageRequest::LimitOffset(request) = parse(ALL, "offset=10&limit=5000").unwrap().page
        else {
            panic!()
        };
        assert_eq!(
            request,
            Request {
                limit: 1000,
                offset: 10,
                count: Counting::Exact
            }
        );
        for bad in [
            "offset=10001",
            "limit=0",
            "offset=-1",
            "offset=x",
            "offset=9223372036854775808",
        ] {
            assert!(
                parse(ALL, bad)
                    .unwrap_err()
                    .contains(&bad[..bad.find('=').unwrap()])
            );
        }
    }
}
