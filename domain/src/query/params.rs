//! A list request's query string, parsed and checked against a [`QuerySpec`].

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Utc};

use super::{FieldKind, Lookup, QuerySpec};
use crate::FieldErrors;

/// Most values an `__in` lookup or a search may carry: bounds the SQL a request can cause.
pub const MAX_IN_VALUES: usize = 100;
pub const MAX_SEARCH_TERMS: usize = 10;
/// Django's message: text columns cannot hold NUL, so it is refused up front.
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";

/// A typed value from the query string or a cursor, bound as a parameter, never spliced.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Text(String),
    DateTime(DateTime<Utc>),
    /// No value: a cursor's position in a nullable ordering key (a row without a target).
    Null,
}

impl Value {
    /// Parses `raw` as a value of `kind`, with Django's messages on failure.
    pub fn parse(kind: FieldKind, raw: &str) -> Result<Value, &'static str> {
        match kind {
            // Django's texts; a whole number past the column's range says so.
            FieldKind::Integer => {
                raw.trim()
                    .parse()
                    .map(Value::Integer)
                    .map_err(|e: std::num::ParseIntError| match e.kind() {
                        std::num::IntErrorKind::PosOverflow => {
                            "Ensure this value is less than or equal to 9223372036854775807."
                        }
                        std::num::IntErrorKind::NegOverflow => {
                            "Ensure this value is greater than or equal to -9223372036854775808."
                        }
                        _ => "Enter a whole number.",
                    })
            }
            FieldKind::Float => match raw.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Value::Float(v)),
                _ => Err("Enter a number."),
            },
            FieldKind::Boolean => match raw.to_ascii_lowercase().as_str() {
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
                // Years 1 to 9999 in UTC, as Django's: the databases disagree beyond them
                // (SQLite compares the text, which a fifth digit of year breaks).
                parse(raw)
                    .or_else(|_| parse(&raw.trim().replace(' ', "+")))
                    .ok()
                    .filter(|t| (1..=9999).contains(&t.year()))
                    .map(Value::DateTime)
                    .ok_or("Enter a valid date/time (RFC 3339).")
            }
        }
    }
}

/// One condition: `field <lookup> value`; `values` holds several only for [`Lookup::In`].
/// With `via`, `field` is a field of the relation's target: the rows whose target matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: &'static str,
    pub via: Option<&'static str>,
    pub lookup: Lookup,
    pub values: Vec<Value>,
}

/// One ordering key. With `via`, `field` is a field of the relation's target
/// (`ordering=category__name`); rows without a target (`nullable`) sort last ascending and
/// first descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBy {
    pub field: &'static str,
    pub descending: bool,
    pub via: Option<&'static str>,
    pub nullable: bool,
}

impl OrderBy {
    /// An ordering key on one of the resource's own fields.
    pub fn own(field: &'static str, descending: bool) -> OrderBy {
        OrderBy {
            field,
            descending,
            via: None,
            nullable: false,
        }
    }

    /// Its name in `?ordering=` (without `-`).
    pub fn name(&self) -> String {
        match self.via {
            Some(relation) => format!("{relation}__{}", self.field),
            None => self.field.to_string(),
        }
    }
}

/// How `count` is computed for page-number and limit/offset pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CountMode {
    /// `COUNT(*)` over the filtered rows (DRF's behaviour): its cost grows with the rows.
    Exact,
    /// The database planner's estimate: constant time on large tables. Sets the planner
    /// puts under a thousand rows, and reaches for under a thousand of its cost units, are
    /// counted exactly (estimates are poor there, and the count is cheap).
    Estimated,
    /// Exact below a configured number of estimated rows (and of cost units: a small set
    /// that only a scan of the table finds is estimated), the estimate above it.
    Auto,
    /// No count: the key is `null`.
    None,
}

impl CountMode {
    pub const CHOICES: [&'static str; 4] = ["exact", "estimated", "auto", "none"];

    pub fn parse(raw: &str) -> Option<CountMode> {
        match raw {
            "exact" => Some(CountMode::Exact),
            "estimated" => Some(CountMode::Estimated),
            "auto" => Some(CountMode::Auto),
            "none" => Some(CountMode::None),
            _ => None,
        }
    }
}

/// A list request, fully checked: only declared fields, typed values, bounded sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filters: Vec<Filter>,
    pub search: Vec<String>,
    /// Always ends with the primary key, so every ordering is total and pages are stable.
    pub ordering: Vec<OrderBy>,
}

/// The names of the query parameters a list understands besides its filters and its
/// pagination's.
pub mod names {
    pub const ORDERING: &str = "ordering";
    pub const SEARCH: &str = "search";
}

impl ListParams {
    /// Parses a query string's pairs: filters, search and ordering (pagination is the
    /// resource's pagination's business). Unknown parameter names are ignored (clients add
    /// cache busters); a known parameter with a bad value is an error keyed by that
    /// parameter. All errors are reported at once. For a repeated parameter the last value
    /// wins.
    pub fn parse<'a>(
        spec: &QuerySpec,
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<ListParams, FieldErrors> {
        let mut errors = FieldErrors::new();
        let params = Self::parse_into(spec, pairs, &mut errors);
        errors.into_result(params)
    }

    /// As [`ListParams::parse`], adding the errors to `errors` (with those of other parts of
    /// the request, reported together) and returning what was valid.
    pub fn parse_into<'a>(
        spec: &QuerySpec,
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
        errors: &mut FieldErrors,
    ) -> ListParams {
        let mut raw = RawParams::default();
        // Raw filter values by parameter, in order of first appearance.
        let mut raw_filters: Vec<(String, Param, String)> = Vec::new();
        for (key, value) in pairs {
            if raw.take(&key, &value) {
                continue;
            }
            let Some(param) = filter_param(spec, &key) else {
                continue;
            };
            match raw_filters.iter_mut().find(|(name, ..)| *name == key) {
                // `?id__in=1&id__in=2` means `?id__in=1,2`; otherwise the last value wins.
                Some((_, param, existing)) if param.lookup == Lookup::In => {
                    existing.push(',');
                    existing.push_str(&value);
                }
                Some((.., existing)) => *existing = value.into_owned(),
                None => raw_filters.push((key.into_owned(), param, value.into_owned())),
            }
        }
        let mut filters = Vec::new();
        for (key, param, value) in raw_filters {
            match parse_filter(param, &value) {
                Ok(Some(filter)) => filters.push(filter),
                Ok(None) => {}
                Err(message) => errors.add(key, message),
            }
        }
        let ordering = parse_ordering(spec, raw.ordering.as_deref(), errors);
        let search = parse_search(raw.search.as_deref(), errors);
        ListParams {
            filters,
            search,
            ordering,
        }
    }
}

/// `-price,-id` for a descending price with ties broken by id (descending too).
pub fn ordering_key(ordering: &[OrderBy]) -> String {
    let parts: Vec<String> = ordering
        .iter()
        .map(|o| format!("{}{}", if o.descending { "-" } else { "" }, o.name()))
        .collect();
    parts.join(",")
}

#[derive(Default)]
struct RawParams {
    ordering: Option<String>,
    search: Option<String>,
}

impl RawParams {
    /// Keeps `value` when `key` is the ordering or search parameter.
    fn take(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
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
}

/// A filter parameter resolved: field, relation, kind, lookup.
#[derive(Clone, Copy)]
struct Param {
    field: &'static str,
    via: Option<&'static str>,
    kind: FieldKind,
    lookup: Lookup,
}

/// `price__gte` -> (`price`, Float, Gte) when `price` declares `gte`; for a relation
/// `category`: `category`, `category__in`, `category__isnull` (when nullable), and the
/// target's declared filters as `category__name__icontains`.
fn filter_param(spec: &QuerySpec, key: &str) -> Option<Param> {
    let (field, suffix) = match key.split_once("__") {
        // `price__` names no lookup: an unknown parameter, not `price`
        Some((_, "")) => return None,
        Some(split) => split,
        None => (key, ""),
    };
    if let Some((name, lookups)) = spec.filters.iter().find(|(name, _)| *name == field) {
        let lookup = lookups
            .iter()
            .copied()
            .find(|lookup| lookup.suffix() == suffix)?;
        return Some(Param {
            field: name,
            via: None,
            kind: spec.kind_of(name)?,
            lookup,
        });
    }
    let relation = spec.relation(field)?;
    let own = |kind, lookup| {
        Some(Param {
            field: relation.name,
            via: None,
            kind,
            lookup,
        })
    };
    match suffix {
        "" => own(relation.key_kind, Lookup::Exact),
        "in" => own(relation.key_kind, Lookup::In),
        "isnull" if relation.nullable => own(FieldKind::Boolean, Lookup::IsNull),
        through => {
            let param = filter_param(&relation.target, through).filter(|p| p.via.is_none())?;
            Some(Param {
                via: Some(relation.name),
                ..param
            })
        }
    }
}

/// An empty text value means "no filter", as in django-filter; an empty number, boolean or
/// date is a bad value like any other.
fn parse_filter(param: Param, raw: &str) -> Result<Option<Filter>, String> {
    let Param {
        field,
        via,
        kind,
        lookup,
    } = param;
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
        _ => vec![match Value::parse(kind, raw).map_err(String::from)? {
            Value::DateTime(bound) => Value::DateTime(to_microseconds(bound, lookup)),
            value => value,
        }],
    };
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(Filter {
        field,
        via,
        lookup,
        values,
    }))
}

/// A bound finer than a microsecond (what rows hold; PostgreSQL would truncate the bound) as
/// the microsecond that gives every row the same answer: `>= 0.1000001` is `>= 0.100001`,
/// `<= 0.1000001` is `<= 0.100000`. Both databases then agree.
fn to_microseconds(bound: DateTime<Utc>, lookup: Lookup) -> DateTime<Utc> {
    let below = i64::from(bound.timestamp_subsec_nanos() % 1_000);
    if below == 0 {
        return bound;
    }
    let floor = bound - chrono::Duration::nanoseconds(below);
    match lookup {
        Lookup::Gte | Lookup::Lt => floor + chrono::Duration::microseconds(1),
        Lookup::Gt | Lookup::Lte => floor,
        _ => bound,
    }
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
        match ordering_field(spec, name, descending) {
            Some(order)
                if !ordering
                    .iter()
                    .any(|o| o.field == order.field && o.via == order.via) =>
            {
                ordering.push(order)
            }
            Some(_) => {}
            // named as sent: `-` alone, or `-bogus`, reads as what the client wrote
            None => invalid.push(term),
        }
    }
    if !invalid.is_empty() {
        errors.add(
            names::ORDERING,
            format!(
                "Invalid ordering field: {}. Allowed: {}.",
                invalid.join(", "),
                spec.ordering_names().join(", ")
            ),
        );
    }
    // The primary key breaks ties, in the direction of the last field, so that one index
    // on `(field, key)` serves the ordering both ways (and keyset pages compare the pair
    // as a row).
    if !ordering
        .iter()
        .any(|o| o.field == spec.primary_key && o.via.is_none())
    {
        let descending = ordering.last().is_some_and(|o| o.descending);
        ordering.push(OrderBy::own(spec.primary_key, descending));
    }
    ordering
}

/// `price`, or `category__name` for a relation's target's orderable field.
fn ordering_field(spec: &QuerySpec, name: &str, descending: bool) -> Option<OrderBy> {
    if let Some(field) = spec
        .ordering
        .iter()
        .chain([&spec.primary_key])
        .find(|field| **field == name)
    {
        return Some(OrderBy::own(field, descending));
    }
    let (relation, field) = name.split_once("__")?;
    let relation = spec.relation(relation)?;
    let field = relation.target.ordering.iter().find(|f| **f == field)?;
    Some(OrderBy {
        field,
        descending,
        via: Some(relation.name),
        nullable: relation.nullable,
    })
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

    fn spec() -> QuerySpec {
        QuerySpec {
            primary_key: "id",
            fields: vec![
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
                (
                    "created_at",
                    &[Lookup::Gt, Lookup::Gte, Lookup::Lt, Lookup::Lte],
                ),
            ],
            search: &["name"],
            ordering: &["name", "price"],
            default_ordering: &["id"],
            relations: Vec::new(),
        }
    }

    fn parse(query: &str) -> Result<ListParams, FieldErrors> {
        ListParams::parse(&spec(), form_pairs(query))
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
    fn defaults_to_the_primary_key_order() {
        let params = parse("").unwrap();
        assert_eq!(params.ordering, vec![OrderBy::own("id", false)]);
        assert!(params.filters.is_empty() && params.search.is_empty());
    }

    #[test]
    fn filters_are_typed_by_their_declared_kind() {
        let params =
            parse("price__gte=10&price__lte=20.5&in_stock=true&id__in=1,2,3&name__icontains=a%b")
                .unwrap();
        assert_eq!(params.filters.len(), 5);
        assert!(params.filters.contains(&Filter {
            field: "id",
            via: None,
            lookup: Lookup::In,
            values: vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)]
        }));
        assert!(params.filters.contains(&Filter {
            field: "price",
            via: None,
            lookup: Lookup::Lte,
            values: vec![Value::Float(20.5)]
        }));
        assert!(params.filters.contains(&Filter {
            field: "in_stock",
            via: None,
            lookup: Lookup::Exact,
            values: vec![Value::Boolean(true)]
        }));
    }

    #[test]
    fn bad_values_are_reported_per_parameter_all_at_once() {
        let errors =
            parse("price__gte=cheap&in_stock=maybe&id__in=1,x&ordering=secret").unwrap_err();
        for key in ["price__gte", "in_stock", "id__in", "ordering"] {
            assert!(errors.contains(key), "{key} missing from {errors:?}");
        }
    }

    #[test]
    fn datetimes_beyond_the_years_1_to_9999_in_utc_are_refused() {
        for raw in [
            "9999-12-31T23:59:59-14:00",
            "+10000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
        ] {
            assert_eq!(
                Value::parse(FieldKind::DateTime, raw),
                Err("Enter a valid date/time (RFC 3339)."),
                "{raw}"
            );
        }
        for raw in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00-01:00"] {
            assert!(Value::parse(FieldKind::DateTime, raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn whole_numbers_out_of_range_name_the_limit() {
        let text = |kind, raw| Value::parse(kind, raw).unwrap_err();
        assert_eq!(
            text(FieldKind::Integer, "9223372036854775808"),
            "Ensure this value is less than or equal to 9223372036854775807."
        );
        assert_eq!(
            text(FieldKind::Integer, "-9223372036854775809"),
            "Ensure this value is greater than or equal to -9223372036854775808."
        );
        assert_eq!(text(FieldKind::Integer, "1.5"), "Enter a whole number.");
        assert_eq!(
            Value::parse(FieldKind::Integer, " 9223372036854775807 "),
            Ok(Value::Integer(i64::MAX))
        );
    }

    #[test]
    fn empty_values_are_no_filter_for_text_only() {
        assert!(parse("name=").unwrap().filters.is_empty());
        assert!(
            parse("id__in=").unwrap().filters.is_empty(),
            "an empty list"
        );
        for query in ["price__gte=", "in_stock=", "id=", "created_at__gte="] {
            assert!(parse(query).is_err(), "{query}");
        }
    }

    #[test]
    fn repeated_list_parameters_are_joined() {
        let params =
            parse("ordering=-price&ordering=name&id__in=1&id__in=2,3&price__gte=1&price__gte=2")
                .unwrap();
        assert_eq!(ordering_key(&params.ordering), "-price,name,id");
        assert!(params.filters.contains(&Filter {
            field: "id",
            via: None,
            lookup: Lookup::In,
            values: vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)]
        }));
        assert!(params.filters.contains(&Filter {
            field: "price",
            via: None,
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
    fn datetime_bounds_finer_than_a_microsecond_keep_their_answer() {
        let bound = |query: &str| match parse(query).unwrap().filters[0].values[0] {
            Value::DateTime(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            ref other => panic!("{other:?}"),
        };
        let at = "2024-01-02T03:04:05.100000001Z";
        assert_eq!(
            bound(&format!("created_at__gte={at}")),
            "2024-01-02T03:04:05.100001000Z"
        );
        assert_eq!(
            bound(&format!("created_at__lt={at}")),
            "2024-01-02T03:04:05.100001000Z"
        );
        assert_eq!(
            bound(&format!("created_at__gt={at}")),
            "2024-01-02T03:04:05.100000000Z"
        );
        assert_eq!(
            bound(&format!("created_at__lte={at}")),
            "2024-01-02T03:04:05.100000000Z"
        );
        let whole = "2024-01-02T03:04:05.100001Z";
        assert_eq!(
            bound(&format!("created_at__gte={whole}")),
            "2024-01-02T03:04:05.100001000Z"
        );
    }

    #[test]
    fn ordering_is_checked_and_ends_with_the_primary_key() {
        let params = parse("ordering=-price,name,-price").unwrap();
        assert_eq!(ordering_key(&params.ordering), "-price,name,id");
        let errors = parse("ordering=secret,-nope").unwrap_err();
        assert!(errors.get("ordering").unwrap()[0].contains("field: secret, -nope."));
        let errors = parse("ordering=-").unwrap_err();
        assert!(errors.get("ordering").unwrap()[0].starts_with("Invalid ordering field: -."));
    }

    #[test]
    fn search_splits_terms() {
        let params = parse("search=red+ball,big").unwrap();
        assert_eq!(params.search, vec!["red+ball", "big"]);
    }

    #[test]
    fn every_filter_parameter_is_listed() {
        let params: Vec<String> = spec().filter_params().into_iter().map(|p| p.name).collect();
        assert!(params.contains(&"price__gte".to_string()) && params.contains(&"name".to_string()));
        assert!(spec().check().is_ok());
    }
}

/// Property tests: no query string, however hostile, makes parsing panic, and whatever is
/// accepted stays within the declared fields and bounds.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::item::{ITEM_FILTERING, Item};

    fn item_query() -> QuerySpec {
        QuerySpec::new(&Item::fields_for_tests(), &ITEM_FILTERING)
    }

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
            if let Ok(params) = ListParams::parse(&item_query(), pairs) {
                for filter in &params.filters {
                    prop_assert!(ITEM_FILTERING.filters.iter().any(|(field, _)| *field == filter.field));
                    prop_assert!(filter.values.len() <= MAX_IN_VALUES);
                }
                for order in &params.ordering {
                    prop_assert!(ITEM_FILTERING.ordering.contains(&order.field) || order.field == "id");
                }
            }
        }
    }
}
