//! Page-number pagination (DRF's `PageNumberPagination`): `?page=` (from 1) and
//! `?page_size=`, with the count of all matching rows (`?count=` says how it is computed).
//! A page past the last is 404 `Invalid page.`, as in DRF.

use domain::FieldErrors;
use domain::query::{CountMode, ListParams, QuerySpec};
use infrastructure::repository::{Page, Repository, Table};
use serde_json::json;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};

use super::{
    Envelope, Link, PAGE_SIZE, PageDefaults, Query, count_mode, count_parameter, page_size,
    page_size_parameter, positive,
};
use crate::error::{ApiError, ApiResult};
use crate::viewset::openapi::parameter;

pub const PAGE: &str = "page";
pub const PARAMETERS: &[&str] = &[PAGE, PAGE_SIZE, super::COUNT];

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub number: u64,
    pub size: u64,
    pub count: CountMode,
}

impl Request {
    /// The first page, at the default size.
    pub const FIRST: Request = Request {
        number: 1,
        size: 50,
        count: CountMode::Exact,
    };

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
        // A page beyond any table is empty, and still counts the rows.
        let (offset, size) = self
            .offset()
            .map_or((i64::MAX as u64, 0), |o| (o, self.size));
        Ok(repository
            .offset_page(spec, params, offset, size, self.count)
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
    let count = count_mode(query, defaults, errors);
    let number = match (query.has(PAGE), number) {
        (true, None) => return None,
        (_, number) => number.unwrap_or(1),
    };
    Some(Request {
        number,
        size,
        count,
    })
}

pub fn parameters() -> Vec<(&'static str, ParameterBuilder)> {
    vec![
        (
            PAGE,
            parameter(
                PAGE,
                ParameterIn::Query,
                json!({"type": "integer", "minimum": 1, "maximum": u64::MAX}),
                "Page number (page-number pagination, the default). A page past the last is 404.",
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
                count: CountMode::None
            }
        );
        assert_eq!(page(""), Request::FIRST);
        for bad in ["page=-1", "page=abc", "page=1.5", "page=0", "page_size=0"] {
            assert!(parse(ALL, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn huge_page_numbers_have_no_offset() {
        assert_eq!(
            page("page=18446744073709551615&page_size=1000").offset(),
            None
        );
        assert_eq!(page("page=3&page_size=10").offset(), Some(20));
    }
}
