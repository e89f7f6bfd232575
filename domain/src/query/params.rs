//! A list request's query string, parsed and checked against a [`QuerySpec`].

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{Cursor, FieldKind, Lookup, QuerySpec};
use crate::FieldErrors;

/// Most values an `__in` lookup or a search may carry: bounds the SQL a request can cause.
const MAX_IN_VALUES: usize = 100;
const MAX_SEARCH_TERMS: usize = 10;
/// Django's message: text columns cannot hold NUL, so it is refused up front.
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";
/// Longest `cursor` accepted before decoding is attempted.
pub const MAX_CURSOR_LEN: usize = 2048;

/// A typed value from the query string or a cursor, bound as a parameter, never spliced.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Text(String),
    DateTime(DateTime<Utc>),
}

impl Value {
    /// Parses `raw` as a value of `kind`, with Django's messages on failure.
    pub fn parse(kind: FieldKind, raw: &str) -> Result<Value, &'static str> {
        match kind {
            FieldKind::Integer => raw
                .trim()
                .parse()
                .map(Value::Integer)
                .map_err(|_| "Enter a whole number."),
            FieldKind::Float => match raw.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Value::Float(v)),
                _ => Err("Enter a number."),
            },
            FieldKind::Boolean => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Value::Boolean(true)),
                "false" | "0" => Ok(Value::Boolean(false)),
                _ => Err("Enter a valid boolean (true or false)."),
            },
            FieldKind::Text if raw.contains('\0') => Err(NULL_CHARACTERS),
            FieldKind::Text => Ok(Value::Text(raw.to_string())),
            FieldKind::DateTime => {
                let parse =
                    |s: &str| DateTime::parse_from_rfc3339(s.trim()).map(|t| t.with_timezone(&Utc));
                // A `+` in an unencoded query string arrives as a space: accept it as meant.
                parse(raw)
                    .or_else(|_| parse(&raw.trim().replace(' ', "+")))
                    .map(Value::DateTime)
                    .map_err(|_| "Enter a valid date/time (RFC 3339).")
            }
        }
    }
}

/// One condition: `field <lookup> value`; `values` holds several only for [`Lookup::In`].
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: &'static str,
    pub lookup: Lookup,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBy {
    pub field: &'static str,
    pub descending: bool,
}

/// Which of DRF's three paginations the request asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Pagination {
    /// `?page=&page_size=` (the default).
    Page { number: u64, size: u64 },
    /// `?limit=&offset=`.
    LimitOffset { limit: u64, offset: u64 },
    /// `?cursor=` (empty for the first page): keyset pages, no count.
    Cursor { size: u64, cursor: Option<Cursor> },
}

impl Pagination {
    /// Rows to skip and rows to return, or `None` when the page lies beyond any table.
    pub fn offset_limit(&self) -> Option<(u64, u64)> {
        let max_offset = i64::MAX as u64;
        match *self {
            Pagination::Page { number, size } => {
                let offset = (number - 1).checked_mul(size)?;
                (offset <= max_offset).then_some((offset, size))
            }
            Pagination::LimitOffset { limit, offset } => Some((offset, limit)),
            Pagination::Cursor { size, .. } => Some((0, size)),
        }
    }
}

/// How `count` is computed for page-number and limit/offset pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CountMode {
    /// `COUNT(*)` over the filtered rows (DRF's behaviour).
    Exact,
    /// The database planner's estimate: constant time on large tables.
    Estimated,
    /// No count: the key is `null`.
    None,
}

impl CountMode {
    pub const CHOICES: [&'static str; 3] = ["exact", "estimated", "none"];

    fn parse(raw: &str) -> Option<CountMode> {
        match raw {
            "exact" => Some(CountMode::Exact),
            "estimated" => Some(CountMode::Estimated),
            "none" => Some(CountMode::None),
            _ => None,
        }
    }
}

/// Deployment-wide pagination settings.
#[derive(Debug, Clone, Copy)]
pub struct PageDefaults {
    pub page_size: u64,
    pub max_page_size: u64,
    pub count: CountMode,
}

/// A list request, fully checked: only declared fields, typed values, bounded sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filters: Vec<Filter>,
    pub search: Vec<String>,
    /// Always ends with the primary key, so every ordering is total and pages are stable.
    pub ordering: Vec<OrderBy>,
    pub pagination: Pagination,
    pub count: CountMode,
}

/// The names of the query parameters a list understands besides its filters.
pub mod names {
    pub const PAGE: &str = "page";
    pub const PAGE_SIZE: &str = "page_size";
    pub const LIMIT: &str = "limit";
    pub const OFFSET: &str = "offset";
    pub const CURSOR: &str = "cursor";
    pub const COUNT: &str = "count";
    pub const ORDERING: &str = "ordering";
    pub const SEARCH: &str = "search";
}

impl ListParams {
    /// Parses a query string's pairs. Unknown parameter names are ignored (clients add cache
    /// busters); a known parameter with a bad value is an error keyed by that parameter. All
    /// errors are reported at once. For a repeated parameter the last value wins.
    pub fn parse<'a>(
        spec: &QuerySpec,
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
        defaults: &PageDefaults,
    ) -> Result<ListParams, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut raw = RawParams::default();
        // Raw filter values by parameter, in order of first appearance.
        let mut raw_filters: Vec<(String, (&'static str, FieldKind, Lookup), String)> = Vec::new();
        for (key, value) in pairs {
            if raw.take(&key, &value) {
                continue;
            }
            let Some(param) = filter_param(spec, &key) else {
                continue;
            };
            match raw_filters.iter_mut().find(|(name, ..)| *name == key) {
                // `?id__in=1&id__in=2` means `?id__in=1,2`; otherwise the last value wins.
                Some((_, (.., Lookup::In), existing)) => {
                    existing.push(',');
                    existing.push_str(&value);
                }
                Some((.., existing)) => *existing = value.into_owned(),
                None => raw_filters.push((key.into_owned(), param, value.into_owned())),
            }
        }
        let mut filters = Vec::new();
        for (key, (field, kind, lookup), value) in raw_filters {
            match parse_filter(field, kind, lookup, &value) {
                Ok(Some(filter)) => filters.push(filter),
                Ok(None) => {}
                Err(message) => errors.add(key, message),
            }
        }
        let ordering = parse_ordering(spec, raw.ordering.as_deref(), &mut errors);
        let search = parse_search(raw.search.as_deref(), &mut errors);
        let count = match raw.count.as_deref() {
            None => defaults.count,
            Some(value) => CountMode::parse(value).unwrap_or_else(|| {
                errors.add(
                    names::COUNT,
                    format!("Select a valid choice. {value} is not one of the available choices: exact, estimated, none."),
                );
                defaults.count
            }),
        };
        let pagination = raw.pagination(spec, &ordering, defaults, &mut errors);
        errors.into_result(ListParams {
            filters,
            search,
            ordering,
            pagination,
            count,
        })
    }

    /// The ordering as `?ordering=` spells it, e.g. `-price,id`; cursors are bound to it.
    pub fn ordering_key(&self) -> String {
        ordering_key(&self.ordering)
    }
}

fn ordering_key(ordering: &[OrderBy]) -> String {
    let parts: Vec<String> = ordering
        .iter()
        .map(|o| format!("{}{}", if o.descending { "-" } else { "" }, o.field))
        .collect();
    parts.join(",")
}

#[derive(Default)]
struct RawParams {
    page: Option<String>,
    page_size: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    cursor: Option<String>,
    count: Option<String>,
    ordering: Option<String>,
    search: Option<String>,
}

impl RawParams {
    /// Keeps `value` when `key` is a pagination, ordering, search or count parameter.
    fn take(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
            names::PAGE => &mut self.page,
            names::PAGE_SIZE => &mut self.page_size,
            names::LIMIT => &mut self.limit,
            names::OFFSET => &mut self.offset,
            names::CURSOR => &mut self.cursor,
            names::COUNT => &mut self.count,
            names::ORDERING => &mut self.ordering,
            names::SEARCH => &mut self.search,
            _ => return false,
        };
        match slot {
            // `?ordering=a&ordering=b` means `?ordering=a,b` (how many clients send lists).
            Some(previous) if key == names::ORDERING && !value.is_empty() => {
                previous.push(',');
                previous.push_str(value);
            }
            _ => *slot = Some(value.to_string()),
        }
        true
    }

    /// Every pagination parameter sent is checked, whichever pagination it selects: a bad
    /// value is an error even where another parameter takes precedence.
    fn pagination(
        &self,
        spec: &QuerySpec,
        ordering: &[OrderBy],
        defaults: &PageDefaults,
        errors: &mut FieldErrors,
    ) -> Pagination {
        let mut positive = |name: &'static str, raw: &Option<String>| {
            let value = raw.as_deref()?;
            match value.trim().parse::<u64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    errors.add(name, "A positive integer is required.");
                    None
                }
            }
        };
        let page = positive(names::PAGE, &self.page).unwrap_or(1);
        let page_size = positive(names::PAGE_SIZE, &self.page_size).unwrap_or(defaults.page_size);
        let limit = positive(names::LIMIT, &self.limit).unwrap_or(defaults.page_size);
        let offset = match self.offset.as_deref() {
            None => 0,
            Some(value) => match value.trim().parse::<u64>() {
                Ok(n) if n <= i64::MAX as u64 => n,
                _ => {
                    errors.add(names::OFFSET, "A non-negative integer is required.");
                    0
                }
            },
        };
        let clamp = |n: u64| n.min(defaults.max_page_size);
        if let Some(raw_cursor) = &self.cursor {
            let cursor = if raw_cursor.is_empty() {
                None
            } else {
                let decoded = (raw_cursor.len() <= MAX_CURSOR_LEN)
                    .then(|| Cursor::decode(raw_cursor, spec, ordering, &ordering_key(ordering)))
                    .flatten();
                if decoded.is_none() {
                    errors.add(names::CURSOR, "Invalid cursor.");
                }
                decoded
            };
            Pagination::Cursor {
                size: clamp(page_size),
                cursor,
            }
        } else if self.limit.is_some() || self.offset.is_some() {
            Pagination::LimitOffset {
                limit: clamp(limit),
                offset,
            }
        } else {
            Pagination::Page {
                number: page,
                size: clamp(page_size),
            }
        }
    }
}

/// `price__gte` -> (`price`, Float, Gte) when `price` declares `gte`.
fn filter_param(spec: &QuerySpec, key: &str) -> Option<(&'static str, FieldKind, Lookup)> {
    let (field, suffix) = key.split_once("__").unwrap_or((key, ""));
    let (name, lookups) = spec.filters.iter().find(|(name, _)| *name == field)?;
    let lookup = lookups
        .iter()
        .copied()
        .find(|lookup| lookup.suffix() == suffix)?;
    Some((name, spec.kind_of(name)?, lookup))
}

/// An empty text value means "no filter", as in django-filter; an empty number, boolean or
/// date is a bad value like any other.
fn parse_filter(
    field: &'static str,
    kind: FieldKind,
    lookup: Lookup,
    raw: &str,
) -> Result<Option<Filter>, String> {
    if raw.is_empty() && kind == FieldKind::Text {
        return Ok(None);
    }
    let values = match lookup {
        Lookup::In => {
            let parts: Vec<&str> = raw
                .split(',')
                .filter(|part| !part.trim().is_empty())
                .collect();
            if parts.len() > MAX_IN_VALUES {
                return Err(format!("Enter at most {MAX_IN_VALUES} values."));
            }
            let parsed: Result<Vec<Value>, _> = parts
                .into_iter()
                .map(|part| Value::parse(kind, part))
                .collect();
            parsed.map_err(String::from)?
        }
        Lookup::IContains | Lookup::IStartsWith => vec![Value::parse(FieldKind::Text, raw)?],
        _ => vec![Value::parse(kind, raw).map_err(String::from)?],
    };
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(Filter {
        field,
        lookup,
        values,
    }))
}

fn parse_ordering(spec: &QuerySpec, raw: Option<&str>, errors: &mut FieldErrors) -> Vec<OrderBy> {
    let requested: Vec<&str> = raw
        .map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .filter(|list: &Vec<&str>| !list.is_empty())
        .unwrap_or_else(|| spec.default_ordering.to_vec());
    let mut ordering: Vec<OrderBy> = Vec::new();
    let mut invalid = Vec::new();
    for term in requested {
        let (descending, name) = match term.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, term),
        };
        match spec
            .ordering
            .iter()
            .chain([&spec.primary_key])
            .find(|field| **field == name)
        {
            Some(field) if !ordering.iter().any(|o| o.field == *field) => {
                ordering.push(OrderBy { field, descending })
            }
            Some(_) => {}
            None => invalid.push(name),
        }
    }
    if !invalid.is_empty() {
        errors.add(
            names::ORDERING,
            format!(
                "Invalid ordering field: {}. Allowed: {}.",
                invalid.join(", "),
                spec.ordering.join(", ")
            ),
        );
    }
    if !ordering.iter().any(|o| o.field == spec.primary_key) {
        ordering.push(OrderBy {
            field: spec.primary_key,
            descending: false,
        });
    }
    ordering
}

/// DRF's SearchFilter splits on whitespace and commas; every term must match some field.
fn parse_search(raw: Option<&str>, errors: &mut FieldErrors) -> Vec<String> {
    let terms: Vec<String> = raw
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|term| !term.is_empty())
        .map(str::to_string)
        .collect();
    if terms.iter().any(|term| term.contains('\0')) {
        errors.add(names::SEARCH, NULL_CHARACTERS);
        return Vec::new();
    }
    if terms.len() > MAX_SEARCH_TERMS {
        errors.add(
            names::SEARCH,
            format!("Enter at most {MAX_SEARCH_TERMS} search terms."),
        );
        return Vec::new();
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: QuerySpec = QuerySpec {
        primary_key: "id",
        fields: &[
            ("id", FieldKind::Integer),
            ("name", FieldKind::Text),
            ("price", FieldKind::Float),
            ("in_stock", FieldKind::Boolean),
            ("created_at", FieldKind::DateTime),
            ("secret", FieldKind::Text),
        ],
        filters: &[
            ("id", &[Lookup::Exact, Lookup::In]),
            ("name", &[Lookup::Exact, Lookup::IContains]),
            ("price", &[Lookup::Gte, Lookup::Lte]),
            ("in_stock", &[Lookup::Exact]),
            ("created_at", &[Lookup::Gte]),
        ],
        search: &["name"],
        ordering: &["name", "price"],
        default_ordering: &["id"],
    };

    const DEFAULTS: PageDefaults = PageDefaults {
        page_size: 50,
        max_page_size: 1000,
        count: CountMode::Exact,
    };

    fn parse(query: &str) -> Result<ListParams, FieldErrors> {
        ListParams::parse(&SPEC, form_pairs(query), &DEFAULTS)
    }

    fn form_pairs(query: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (Cow::Borrowed(k), Cow::Borrowed(v))
            })
            .collect()
    }

    #[test]
    fn defaults_to_first_page_ordered_by_primary_key() {
        let params = parse("").unwrap();
        assert_eq!(
            params.pagination,
            Pagination::Page {
                number: 1,
                size: 50
            }
        );
        assert_eq!(
            params.ordering,
            vec![OrderBy {
                field: "id",
                descending: false
            }]
        );
        assert!(params.filters.is_empty() && params.search.is_empty());
        assert_eq!(params.count, CountMode::Exact);
    }

    #[test]
    fn filters_are_typed_by_their_declared_kind() {
        let params =
            parse("price__gte=10&price__lte=20.5&in_stock=true&id__in=1,2,3&name__icontains=a%b")
                .unwrap();
        assert_eq!(params.filters.len(), 5);
        assert!(params.filters.contains(&Filter {
            field: "id",
            lookup: Lookup::In,
            values: vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)]
        }));
        assert!(params.filters.contains(&Filter {
            field: "price",
            lookup: Lookup::Lte,
            values: vec![Value::Float(20.5)]
        }));
        assert!(params.filters.contains(&Filter {
            field: "in_stock",
            lookup: Lookup::Exact,
            values: vec![Value::Boolean(true)]
        }));
    }

    #[test]
    fn bad_values_are_reported_per_parameter_all_at_once() {
        let errors =
            parse("price__gte=cheap&in_stock=maybe&id__in=1,x&page=0&ordering=secret").unwrap_err();
        for key in ["price__gte", "in_stock", "id__in", "page", "ordering"] {
            assert!(errors.contains(key), "{key} missing from {errors:?}");
        }
    }

    #[test]
    fn empty_values_are_no_filter_for_text_only() {
        assert!(parse("name=").unwrap().filters.is_empty());
        assert!(
            parse("id__in=").unwrap().filters.is_empty(),
            "an empty list"
        );
        for query in [
            "price__gte=",
            "in_stock=",
            "id=",
            "created_at__gte=",
            "count=",
        ] {
            assert!(parse(query).is_err(), "{query}");
        }
    }

    #[test]
    fn repeated_list_parameters_are_joined() {
        let params =
            parse("ordering=-price&ordering=name&id__in=1&id__in=2,3&price__gte=1&price__gte=2")
                .unwrap();
        assert_eq!(params.ordering_key(), "-price,name,id");
        assert!(params.filters.contains(&Filter {
            field: "id",
            lookup: Lookup::In,
            values: vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)]
        }));
        assert!(params.filters.contains(&Filter {
            field: "price",
            lookup: Lookup::Gte,
            values: vec![Value::Float(2.0)]
        }));
    }

    #[test]
    fn null_characters_are_refused_in_text() {
        for query in ["name=a\0", "name__icontains=\0", "search=x\0y"] {
            assert!(parse(query).is_err(), "{query:?}");
        }
    }

    #[test]
    fn unknown_parameters_and_undeclared_lookups_are_ignored() {
        let params = parse("_=123&secret=1&price__gt=5&name__regex=x").unwrap();
        assert!(params.filters.is_empty());
    }

    #[test]
    fn non_finite_numbers_are_rejected() {
        for value in ["NaN", "inf", "-infinity", "1e999"] {
            assert!(parse(&format!("price__gte={value}")).is_err(), "{value}");
        }
    }

    #[test]
    fn datetime_with_an_unencoded_plus_is_accepted() {
        let params = parse("created_at__gte=2024-01-02T03:04:05 00:00").unwrap();
        assert!(matches!(params.filters[0].values[0], Value::DateTime(_)));
    }

    #[test]
    fn ordering_is_checked_and_ends_with_the_primary_key() {
        let params = parse("ordering=-price,name,-price").unwrap();
        assert_eq!(params.ordering_key(), "-price,name,id");
        let errors = parse("ordering=secret,-nope").unwrap_err();
        assert!(errors.get("ordering").unwrap()[0].contains("secret, nope"));
    }

    #[test]
    fn page_sizes_are_clamped_and_pages_validated() {
        assert_eq!(
            parse("page=2&page_size=100000").unwrap().pagination,
            Pagination::Page {
                number: 2,
                size: 1000
            }
        );
        for bad in [
            "page=-1",
            "page=abc",
            "page=1.5",
            "page_size=0",
            "limit=0",
            "offset=-1",
            "offset=x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("offset=10").unwrap().pagination,
            Pagination::LimitOffset {
                limit: 50,
                offset: 10
            }
        );
    }

    #[test]
    fn parameters_of_another_pagination_are_still_checked() {
        assert!(parse("cursor=&offset=-1").unwrap_err().contains("offset"));
        assert!(parse("limit=5&page=0").unwrap_err().contains("page"));
    }

    #[test]
    fn huge_page_numbers_have_no_offset() {
        let params = parse("page=18446744073709551615&page_size=1000").unwrap();
        assert_eq!(params.pagination.offset_limit(), None);
    }

    #[test]
    fn search_splits_terms_and_count_is_checked() {
        let params = parse("search=red+ball,big&count=none").unwrap();
        assert_eq!(params.search, vec!["red+ball", "big"]);
        assert_eq!(params.count, CountMode::None);
        assert!(parse("count=sometimes").unwrap_err().contains("count"));
    }

    #[test]
    fn garbage_cursors_are_errors_and_empty_cursor_is_the_first_page() {
        assert_eq!(
            parse("cursor=").unwrap().pagination,
            Pagination::Cursor {
                size: 50,
                cursor: None
            }
        );
        for bad in ["cursor=abc", "cursor=%%%", "cursor=eyJ4IjoxfQ"] {
            assert!(parse(bad).unwrap_err().contains("cursor"), "{bad}");
        }
    }

    #[test]
    fn every_filter_parameter_is_listed() {
        let params: Vec<String> = SPEC.filter_params().map(|(name, ..)| name).collect();
        assert!(params.contains(&"price__gte".to_string()) && params.contains(&"name".to_string()));
        assert!(SPEC.check().is_ok());
    }
}

/// Property tests: no query string, however hostile, makes parsing panic, and whatever is
/// accepted stays within the declared fields and bounds.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::item::ITEM_QUERY;

    const DEFAULTS: PageDefaults = PageDefaults {
        page_size: 50,
        max_page_size: 1000,
        count: CountMode::Exact,
    };

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("page".to_string()),
            Just("page_size".to_string()),
            Just("limit".to_string()),
            Just("offset".to_string()),
            Just("cursor".to_string()),
            Just("count".to_string()),
            Just("ordering".to_string()),
            Just("search".to_string()),
            Just("price__gte".to_string()),
            Just("id__in".to_string()),
            Just("in_stock".to_string()),
            Just("created_at__lt".to_string()),
            Just("name__icontains".to_string()),
            "\\PC{0,12}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,40}",
            "-?[0-9]{1,25}(\\.[0-9]{0,5})?",
            "(-?[a-z_]{1,12},?){0,6}",
            "[A-Za-z0-9_-]{0,120}",
            Just(String::new()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parsing_never_panics_and_respects_the_declarations(pairs in proptest::collection::vec((key(), value()), 0..8)) {
            let pairs = pairs.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())));
            if let Ok(params) = ListParams::parse(&ITEM_QUERY, pairs, &DEFAULTS) {
                for filter in &params.filters {
                    prop_assert!(ITEM_QUERY.filters.iter().any(|(field, _)| *field == filter.field));
                    prop_assert!(filter.values.len() <= MAX_IN_VALUES);
                }
                for order in &params.ordering {
                    prop_assert!(ITEM_QUERY.ordering.contains(&order.field) || order.field == "id");
                }
                match params.pagination {
                    Pagination::Page { number, size } => prop_assert!(number >= 1 && (1..=1000).contains(&size)),
                    Pagination::LimitOffset { limit, offset } => prop_assert!((1..=1000).contains(&limit) && offset <= i64::MAX as u64),
                    Pagination::Cursor { size, .. } => prop_assert!((1..=1000).contains(&size)),
                }
            }
        }

        #[test]
        fn cursors_never_panic(raw in "[A-Za-z0-9_=-]{0,200}") {
            let ordering = [OrderBy { field: "id", descending: false }];
            let _ = Cursor::decode(&raw, &ITEM_QUERY, &ordering, "id");
        }
    }
}
