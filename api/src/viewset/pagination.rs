//! Pagination, DRF's `pagination_class`, as a strategy each resource chooses
//! ([`Resource::PAGINATION`](super::Resource::PAGINATION)): the styles it offers, in order
//! of precedence. A request is paginated by the first style whose parameters it carries, or
//! else by the last style. Each style is one module, holding everything about it: the
//! parameters a request names a page with (parsed and checked), the query that fetches the
//! page, the envelope's `count` and links, and the documentation of all of that.
//!
//! - [`page_number`]: `?page=&page_size=` (DRF's `PageNumberPagination`), counted;
//! - [`limit_offset`]: `?limit=&offset=` (`LimitOffsetPagination`), counted;
//! - [`cursor`]: `?cursor=&page_size=` (`CursorPagination`): keyset pages, never counted.

pub mod cursor;
pub mod limit_offset;
pub mod page_number;

use std::borrow::Cow;
use std::collections::HashSet;

use domain::FieldErrors;
use domain::query::{CountMode, ListParams, QuerySpec, names};
use infrastructure::repository::{Counting, Page, Repository, Table};
use serde_json::json;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};

use super::openapi::parameter;
use crate::error::ApiResult;
use crate::viewset::relations::{self, Relation};

/// One pagination style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    PageNumber,
    LimitOffset,
    Cursor,
}

/// The styles a resource offers, in order of precedence; the last is the default.
pub type Pagination = &'static [Style];

/// Every style, as the contract describes lists: `cursor` selects cursor pages, `limit` or
/// `offset` limit/offset pages, and page numbers are the default.
pub const ALL: Pagination = &[Style::Cursor, Style::LimitOffset, Style::PageNumber];

/// Deployment-wide pagination settings.
#[derive(Debug, Clone, Copy)]
pub struct PageDefaults {
    pub page_size: u64,
    pub max_page_size: u64,
    /// How counted pages count when the request does not say.
    pub count: CountMode,
    /// `count=auto`: sets the planner estimates at this many rows or more, or whose reading
    /// costs it more than this many of its units, get the estimate.
    pub exact_count_threshold: u64,
    /// The deepest offset page-number and limit/offset pages may start at: a deeper page
    /// costs a scan of every row before it. Cursor pages go anywhere.
    pub max_offset: u64,
}

/// A list request's query string, decoded once.
pub struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Query<'a> {
    pub fn parse(raw: &'a str) -> Query<'a> {
        Query(form_urlencoded::parse(raw.as_bytes()).collect())
    }

    pub fn pairs(&self) -> impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)> + '_ {
        self.0.iter().cloned()
    }

    /// The value of `name`; the last one when it is repeated.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_ref())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The page a request asks for, in the style that paginates it.
#[derive(Debug, Clone, PartialEq)]
pub enum PageRequest {
    PageNumber(page_number::Request),
    LimitOffset(limit_offset::Request),
    Cursor(cursor::Request),
}

/// A list request, fully checked: which rows (filters, search, ordering) and which page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    pub params: ListParams,
    pub page: PageRequest,
    /// The relations to show expanded (`?expand=`), by index in the resource's relations.
    pub expand: Vec<usize>,
    /// Set when the list's cost grows with the rows it matches (see [`Guard`]).
    pub guard: Option<Guard>,
}

/// A list shape no index bounds: an ordering by a related row's field, or by a field no
/// B-tree index of the table leads (a sort of every matching row), or `count=exact` (a count
/// of them). It is served while the planner estimates at most
/// `pagination.exact_count_threshold` matching rows, and refused with a 400 naming the
/// parameter above that (PostgreSQL; SQLite has no estimate and serves it).
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    pub threshold: u64,
    pub parameter: &'static str,
    /// What the shape is and what to use instead.
    pub advice: String,
}

impl Guard {
    fn of(
        params: &ListParams,
        spec: &QuerySpec,
        query: &Query<'_>,
        counts: bool,
        indexed: Option<&HashSet<String>>,
        threshold: u64,
    ) -> Option<Guard> {
        let guard = |parameter, advice| {
            Some(Guard {
                threshold,
                parameter,
                advice,
            })
        };
        if let Some(order) = params.ordering.iter().find(|o| o.via.is_some()) {
            return guard(
                names::ORDERING,
                format!(
                    "ordering by {} sorts every matching row (no index serves it). Filter the list \
                     further, or order by {}",
                    order.name(),
                    spec.ordering.join(", ")
                ),
            );
        }
        // An ordering the client asked for, led by a field no index leads (the primary key
        // always has one). A resource's own default ordering is its author's choice.
        let served = |field: &str| indexed.is_none_or(|i| index_leads(spec, i, field));
        let asked = query
            .get(names::ORDERING)
            .is_some_and(|raw| raw.split(',').any(|term| !term.trim().is_empty()));
        if asked
            && let Some(order) = params.ordering.first()
            && order.via.is_none()
            && !served(order.field)
        {
            let indexed: Vec<&str> = spec
                .ordering
                .iter()
                .copied()
                .filter(|f| served(f))
                .collect();
            let instead = match indexed.as_slice() {
                [] => String::new(),
                fields => format!(", or order by {}", fields.join(", ")),
            };
            return guard(
                names::ORDERING,
                format!(
                    "ordering by {} sorts every matching row (no index serves it). Filter the \
                     list further{instead}",
                    order.field
                ),
            );
        }
        // The client's own `count=exact`, not the counting mode parsed with the page: an
        // operator who sets `pagination.count = "exact"` gets exact counts on every list.
        if counts && query.get(COUNT) == Some("exact") {
            return guard(
                COUNT,
                "count=exact counts every matching row. Use count=auto (the default), \
                 count=estimated or count=none"
                    .to_string(),
            );
        }
        None
    }

    /// The 400 for a list of about `rows` rows, or nothing when the list is small enough.
    fn check(&self, rows: Option<u64>) -> Result<(), FieldErrors> {
        match rows {
            Some(rows) if rows > self.threshold => Err(FieldErrors::single(
                self.parameter,
                format!(
                    "Not offered on lists of more than {} rows (this one has about {rows}): {}.",
                    self.threshold, self.advice
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Does an index (one of `indexed`, the columns leading the table's B-tree indexes) serve
/// ordering by `field`? The primary key always has one.
pub(super) fn index_leads(spec: &QuerySpec, indexed: &HashSet<String>, field: &str) -> bool {
    field == spec.primary_key || indexed.contains(spec.column_of(field))
}

/// What a page's envelope carries besides its rows. `count` is `None` for styles that do
/// not count (the key is left out) and `Some(None)` for `count=none` (the key is `null`).
pub struct Envelope {
    pub count: Option<Option<u64>>,
    /// The count is the planner's estimate (the `X-Count-Kind` header says so).
    pub estimated: bool,
    pub next: Option<String>,
    pub previous: Option<String>,
}

/// Makes a link: this request's URL with the given query parameters set (`Some`) or
/// removed (`None`).
pub type Link<'a> = dyn Fn(&[(&str, Option<String>)]) -> Option<String> + 'a;

impl ListRequest {
    /// Parses a list request's query string. Every parameter of every offered style is
    /// checked, whichever style the request ends up with, and all errors (of filters,
    /// ordering and pagination) are reported at once.
    pub fn parse(
        styles: Pagination,
        spec: &QuerySpec,
        relations: &[Relation],
        query: &Query<'_>,
        defaults: &PageDefaults,
        indexed: Option<&HashSet<String>>,
    ) -> Result<ListRequest, FieldErrors> {
        let mut errors = FieldErrors::new();
        let params = ListParams::parse_into(spec, query.pairs(), &mut errors);
        let expand = relations::parse_expand(relations, query.get(relations::EXPAND), &mut errors);
        let mut chosen = None;
        for style in styles {
            let request =
                match style {
                    Style::PageNumber => page_number::parse(query, defaults, &mut errors)
                        .map(PageRequest::PageNumber),
                    Style::LimitOffset => limit_offset::parse(query, defaults, &mut errors)
                        .map(PageRequest::LimitOffset),
                    Style::Cursor => {
                        cursor::parse(query, defaults, spec, &params.ordering, &mut errors)
                            .map(PageRequest::Cursor)
                    }
                };
            if chosen.is_none() && (requested(*style, query) || Some(style) == styles.last()) {
                chosen = request;
            }
        }
        // No page only when the style that would have served failed, and said why.
        let Some(page) = chosen else {
            debug_assert!(
                !errors.is_empty(),
                "a resource pages with at least one style"
            );
            return Err(errors);
        };
        let counts = !matches!(page, PageRequest::Cursor(_));
        let guard = Guard::of(
            &params,
            spec,
            query,
            counts,
            indexed,
            defaults.exact_count_threshold,
        );
        errors.into_result(ListRequest {
            params,
            page,
            expand,
            guard,
        })
    }

    /// Fetches the page from the rows `repository` can see.
    pub async fn fetch<E>(
        &self,
        repository: &Repository<'_, E>,
        spec: &QuerySpec,
    ) -> ApiResult<Page<E::Model>>
    where
        E: Table,
        E::Model: Sync,
    {
        if let Some(guard) = &self.guard {
            let rows = repository.estimate_rows(spec, &self.params).await?;
            guard.check(rows)?;
        }
        match &self.page {
            PageRequest::PageNumber(page) => page.fetch(repository, spec, &self.params).await,
            PageRequest::LimitOffset(page) => page.fetch(repository, spec, &self.params).await,
            PageRequest::Cursor(page) => page.fetch(repository, spec, &self.params).await,
        }
    }

    /// The envelope of a fetched page (a page number past the last is a 404).
    pub fn envelope<M>(&self, page: &Page<M>, link: &Link<'_>) -> ApiResult<Envelope> {
        match &self.page {
            PageRequest::PageNumber(request) => request.envelope(page, link),
            PageRequest::LimitOffset(request) => Ok(request.envelope(page, link)),
            PageRequest::Cursor(request) => Ok(request.envelope(&self.params, page, link)),
        }
    }
}

/// Does the request carry the parameters that select `style`?
fn requested(style: Style, query: &Query<'_>) -> bool {
    match style {
        Style::PageNumber => page_number::requested(query),
        Style::LimitOffset => limit_offset::requested(query),
        Style::Cursor => cursor::requested(query),
    }
}

/// The query parameters of the styles offered, each once, for the documentation: the
/// default style's first.
pub fn parameters(styles: Pagination) -> Vec<ParameterBuilder> {
    let mut all: Vec<(&str, ParameterBuilder)> = Vec::new();
    for style in styles.iter().rev() {
        let parameters = match style {
            Style::PageNumber => page_number::parameters(),
            Style::LimitOffset => limit_offset::parameters(),
            Style::Cursor => cursor::parameters(),
        };
        for (name, parameter) in parameters {
            if !all.iter().any(|(known, _)| *known == name) {
                all.push((name, parameter));
            }
        }
    }
    all.into_iter().map(|(_, parameter)| parameter).collect()
}

/// The names of every query parameter the styles offered read.
pub fn parameter_names(styles: Pagination) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for style in styles {
        let style_names = match style {
            Style::PageNumber => page_number::PARAMETERS,
            Style::LimitOffset => limit_offset::PARAMETERS,
            Style::Cursor => cursor::PARAMETERS,
        };
        for name in style_names {
            if !names.contains(name) {
                names.push(name);
            }
        }
    }
    names
}

/// Does some style offered count its rows (the envelope may have `count`)?
pub fn counted(styles: Pagination) -> bool {
    styles.iter().any(|style| *style != Style::Cursor)
}

// ----- what several styles share -----

pub(crate) const PAGE_SIZE: &str = "page_size";
pub(crate) const COUNT: &str = "count";

/// A whole number as a client writes it; one too large for 64 bits is as large as one can
/// be (DRF's are Python's, without bound): a page size then clamps to the maximum, and an
/// offset is too deep.
fn whole(value: &str) -> Option<u64> {
    match value.trim().parse::<u64>() {
        Ok(n) => Some(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Some(u64::MAX),
        Err(_) => None,
    }
}

/// A positive integer parameter, or an error keyed by it.
fn positive(query: &Query<'_>, name: &'static str, errors: &mut FieldErrors) -> Option<u64> {
    let value = query.get(name)?;
    match whole(value) {
        Some(n) if n >= 1 => Some(n),
        _ => {
            errors.add(name, "A positive integer is required.");
            None
        }
    }
}

/// `page_size`, clamped to the maximum.
fn page_size(query: &Query<'_>, defaults: &PageDefaults, errors: &mut FieldErrors) -> u64 {
    positive(query, PAGE_SIZE, errors)
        .unwrap_or(defaults.page_size)
        .min(defaults.max_page_size)
}

/// `count`: how a counted page counts.
fn counting(query: &Query<'_>, defaults: &PageDefaults, errors: &mut FieldErrors) -> Counting {
    match count_mode(query, defaults, errors) {
        CountMode::None => Counting::None,
        CountMode::Exact => Counting::Exact,
        CountMode::Estimated => Counting::EstimateFrom(ESTIMATED_FROM),
        CountMode::Auto => Counting::EstimateFrom(defaults.exact_count_threshold),
    }
}

/// `count=estimated` still counts sets the planner puts under this many rows and cost
/// units: its estimates are poor there, and the count is cheap.
const ESTIMATED_FROM: u64 = 1000;

/// An offset deeper than `max_offset` is refused, naming `parameter`.
fn check_offset(
    offset: Option<u64>,
    parameter: &'static str,
    defaults: &PageDefaults,
    errors: &mut FieldErrors,
) -> bool {
    let too_deep = offset.is_none_or(|offset| offset > defaults.max_offset);
    if too_deep {
        errors.add(
            parameter,
            format!(
                "Pages starting after row {} are not served: narrow the list with filters, or use \
                 cursor pagination (`cursor=`), whose pages cost the same at any depth.",
                defaults.max_offset
            ),
        );
    }
    !too_deep
}

fn count_mode(query: &Query<'_>, defaults: &PageDefaults, errors: &mut FieldErrors) -> CountMode {
    match query.get(COUNT) {
        None => defaults.count,
        Some(value) => CountMode::parse(value).unwrap_or_else(|| {
            errors.add(
                COUNT,
                format!(
                    "Select a valid choice. {value} is not one of the available choices: {}.",
                    CountMode::CHOICES.join(", ")
                ),
            );
            defaults.count
        }),
    }
}

fn page_size_parameter() -> (&'static str, ParameterBuilder) {
    (
        PAGE_SIZE,
        parameter(
            PAGE_SIZE,
            ParameterIn::Query,
            json!({"type": "integer", "minimum": 1}),
            "Rows per page (page-number and cursor pagination); larger values, however large, are clamped to the configured maximum.",
        ),
    )
}

fn count_parameter() -> (&'static str, ParameterBuilder) {
    (
        COUNT,
        parameter(
            COUNT,
            ParameterIn::Query,
            json!({"type": "string", "enum": CountMode::CHOICES}),
            "How `count` is computed: `exact` (a 400 on lists the planner puts above the configured threshold); `estimated`, the planner's estimate (constant time on large tables; exact for small sets the database reaches cheaply); `auto`, exact below the configured threshold of estimated rows and the estimate above it (or for a small set that only a scan of the table finds); or `none` (null). `X-Count-Kind` says which kind a page got. The default is configured (`auto` unless changed).",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::query::{FieldKind, Filtering, Lookup};

    pub(super) const DEFAULTS: PageDefaults = PageDefaults {
        page_size: 50,
        max_page_size: 1000,
        count: CountMode::Exact,
        exact_count_threshold: 10_000,
        max_offset: 10_000,
    };

    pub(super) fn spec() -> QuerySpec {
        const FILTERING: Filtering = Filtering {
            filters: &[("price", &[Lookup::Gte])],
            search: &[],
            ordering: &["price", "at"],
            default_ordering: &["id"],
        };
        QuerySpec {
            primary_key: "id",
            fields: vec![
                ("id", FieldKind::Integer),
                ("price", FieldKind::Float),
                ("at", FieldKind::DateTime),
            ],
            filters: FILTERING.filters,
            search: FILTERING.search,
            ordering: FILTERING.ordering,
            default_ordering: FILTERING.default_ordering,
            relations: Vec::new(),
        }
    }

    pub(super) fn parse(styles: Pagination, query: &str) -> Result<ListRequest, FieldErrors> {
        ListRequest::parse(styles, &spec(), &[], &Query::parse(query), &DEFAULTS, None)
    }

    /// Only an ordering the client asks for, led by a field no index leads, is guarded: not
    /// the resource's default (here `price`, unindexed), and none when the indexes are
    /// unknown (SQLite).
    #[test]
    fn orderings_no_index_leads_are_guarded() {
        let indexed = HashSet::from(["at".to_string()]);
        let spec = QuerySpec {
            default_ordering: &["price"],
            ..spec()
        };
        let guard = |query: &str, indexed: Option<&HashSet<String>>| {
            ListRequest::parse(ALL, &spec, &[], &Query::parse(query), &DEFAULTS, indexed)
                .unwrap()
                .guard
                .map(|guard| (guard.parameter, guard.advice))
        };
        let refused = Some((
            names::ORDERING,
            "ordering by price sorts every matching row (no index serves it). Filter the list \
             further, or order by at"
                .to_string(),
        ));
        assert_eq!(guard("ordering=price", Some(&indexed)), refused);
        assert_eq!(guard("ordering=-price,at&cursor=", Some(&indexed)), refused);
        for served in [
            "ordering=at",
            "ordering=-at,price",
            "ordering=",
            "ordering=,",
            "",
        ] {
            assert_eq!(guard(served, Some(&indexed)), None, "{served}");
        }
        assert_eq!(guard("ordering=price", None), None);
        let advice = guard("ordering=at", Some(&HashSet::new())).unwrap().1;
        assert!(advice.ends_with("Filter the list further"), "{advice}");
    }

    #[test]
    fn the_first_style_asked_for_wins_and_the_last_is_the_default() {
        let page = |query: &str| parse(ALL, query).unwrap().page;
        assert!(matches!(page(""), PageRequest::PageNumber(_)));
        assert!(matches!(page("page=2"), PageRequest::PageNumber(_)));
        assert!(matches!(page("offset=10"), PageRequest::LimitOffset(_)));
        assert!(matches!(
            page("limit=5&page=2"),
            PageRequest::LimitOffset(_)
        ));
        assert!(matches!(page("cursor=&limit=5"), PageRequest::Cursor(_)));
        let cursor_only = |query: &str| parse(&[Style::Cursor], query).unwrap().page;
        assert!(matches!(cursor_only(""), PageRequest::Cursor(_)));
        assert!(matches!(cursor_only("page=2"), PageRequest::Cursor(_)));
    }

    #[test]
    fn parameters_of_another_style_are_still_checked_all_at_once() {
        let errors = parse(ALL, "cursor=&offset=-1&page=0&price__gte=x").unwrap_err();
        for key in ["offset", "page", "price__gte"] {
            assert!(errors.contains(key), "{key}");
        }
        for bad in ["count=sometimes", "count="] {
            assert!(parse(ALL, bad).unwrap_err().contains("count"), "{bad}");
        }
        // A style not offered does not read its parameters.
        assert!(parse(&[Style::Cursor], "offset=-1").is_ok());
    }

    #[test]
    fn documented_parameters_are_each_listed_once() {
        assert_eq!(
            parameter_names(ALL),
            ["cursor", "page_size", "limit", "offset", "count", "page"]
        );
        assert_eq!(parameters(ALL).len(), 6);
        assert_eq!(parameter_names(&[Style::Cursor]), ["cursor", "page_size"]);
        assert!(!counted(&[Style::Cursor]) && counted(ALL));
    }
}
