//! Page-number pagination (DRF's `PageNumberPagination`): `?page=` (from 1) and
//! `?page_size=`, with the count of all matching rows (`?count=` says how it is computed).
//! A page past the last is 404 `Invalid page.`, as in DRF.

use domain::FieldErrors;
use domain::query::{ListParams, QuerySpec};
use infrastructure::repository::{Counting, Page, Repository, Table};
use serde_json::json;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};

use super::{
    Envelope, Link, PAGE_SIZE, PageDefaults, Query, check_offset, count_parameter, counting,
    page_size, page_size_parameter, positive,
};
use crate::error::{ApiError, ApiResult};
use crate::viewset::openapi::parameter;

pub const PAGE: &str = "page";
pub const PARAMETERS: &[&str] = &[PAGE, PAGE_SIZE, super::COUNT];

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub number: u64,
    pub size: u64,
    pub count: Counting,
}

impl Request {
    /// Rows to skip, or `None` when the page lies beyond any table.
    pub fn offset(&self) -> Option<u64> {
        let offset = (self.number - 1).checked_mul(self.size)?;
        (offset <= i64::MAX as u64).then_some(offset)
    }

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
        let offset = self.offset().unwrap_or(i64::MAX as u64);
        Ok(repository
            .offset_page(spec, params, offset, self.size, self.count)
            .await?)
    }

    pub fn envelope<M>(&self, page: &Page<M>, link: &Link<'_>) -> ApiResult<Envelope> {
        if page.rows.is_empty() && self.number > 1 {
            return Err(ApiError::InvalidPage);
        }
        let next = page
            .has_next
            .then(|| link(&[(PAGE, Some((self.number + 1).to_string()))]))
            .flatten();
        let previous = match self.number {
            1 => None,
            2 => link(&[(PAGE, None)]),
            n => link(&[(PAGE, Some((n - 1).to_string()))]),
        };
        Ok(Envelope {
            count: Some(page.count),
            estimated: page.estimated,
            next,
            previous,
        })
    }
}

pub fn requested(query: &Query<'_>) -> bool {
    query.has(PAGE)
}

pub fn parse(
    query: &Query<'_>,
    defaults: &PageDefaults,
    errors: &mut FieldErrors,
) -> Option<Request> {
    let number = positive(query, PAGE, errors);
    let size = page_size(query, defaults, errors);
    let count = counting(query, defaults, errors);
    let number = match (query.has(PAGE), number) {
        (true, None) => return None,
        (_, number) => number.unwrap_or(1),
    };
    let request = Request {
        number,
        size,
        count,
    };
    check_offset(request.offset(), PAGE, defaults, errors).then_some(request)
}

pub fn parameters() -> Vec<(&'static str, ParameterBuilder)> {
    vec![
        (
            PAGE,
            parameter(
                PAGE,
                ParameterIn::Query,
                json!({"type": "integer", "minimum": 1, "maximum": u64::MAX}),
                "Page number (page-number pagination, the default). A page past the last is 404; a page starting deeper than the configured maximum offset is 400 (use `cursor`).",
            ),
        ),
        page_size_parameter(),
        count_parameter(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::{ALL, PageRequest};
    use super::*;

    fn page(query: &str) -> Request {
        match parse(ALL, query).unwrap().page {
            PageRequest::PageNumber(request) => request,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sizes_are_clamped_and_pages_validated() {
        assert_eq!(
            page("page=2&page_size=100000&count=none"),
            Request {
                number: 2,
                size: 1000,
                count: Counting::None
            }
        );
        // The test defaults: 50 rows, exact counts.
        assert_eq!(
            page(""),
            Request {
                number: 1,
                size: 50,
                count: Counting::Exact
            }
        );
        for bad in ["page=-1", "page=abc", "page=1.5", "page=0", "page_size=0"] {
            assert!(parse(ALL, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_pages_are_refused_naming_the_page() {
        assert_eq!(page("page=3&page_size=10").offset(), Some(20));
        assert_eq!(page("page=201&page_size=50").offset(), Some(10_000));
        for deep in [
            "page=202&page_size=50",
            "page=18446744073709551615&page_size=1000",
        ] {
            let errors = parse(ALL, deep).unwrap_err();
            assert!(errors.get("page").unwrap()[0].contains("cursor"), "{deep}");
        }
    }

    #[test]
    fn counts_as_asked_or_as_configured() {
        assert_eq!(page("count=auto").count, Counting::EstimateFrom(10_000));
        assert_eq!(page("count=estimated").count, Counting::EstimateFrom(1000));
        assert_eq!(page("count=exact").count, Counting::Exact);
        assert_eq!(page("").count, Counting::Exact);
    }
}
