//! A resource's declarations, DRF style: `filterset_fields`, `search_fields`, `ordering_fields`.

use crate::fields::Fields;

/// The type of a queryable field, which decides how a query-string value is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Integer,
    Float,
    Boolean,
    Text,
    /// RFC 3339 timestamp.
    DateTime,
}

impl FieldKind {
    /// The JSON Schema type of values of this kind, for documentation.
    pub fn json_type(self) -> &'static str {
        match self {
            FieldKind::Integer => "integer",
            FieldKind::Float => "number",
            FieldKind::Boolean => "boolean",
            FieldKind::Text | FieldKind::DateTime => "string",
        }
    }
}

/// django-filter lookups: `?price__gte=10` is field `price`, lookup [`Lookup::Gte`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Exact,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    IContains,
    IStartsWith,
}

impl Lookup {
    pub const ALL: [Lookup; 8] = [
        Lookup::Exact,
        Lookup::In,
        Lookup::Gt,
        Lookup::Gte,
        Lookup::Lt,
        Lookup::Lte,
        Lookup::IContains,
        Lookup::IStartsWith,
    ];

    /// The suffix after `__` in a parameter name; empty for `Exact` (`?name=`).
    pub fn suffix(self) -> &'static str {
        match self {
            Lookup::Exact => "",
            Lookup::In => "in",
            Lookup::Gt => "gt",
            Lookup::Gte => "gte",
            Lookup::Lt => "lt",
            Lookup::Lte => "lte",
            Lookup::IContains => "icontains",
            Lookup::IStartsWith => "istartswith",
        }
    }

    /// The query parameter a client uses for this lookup on `field`.
    pub fn param_name(self, field: &str) -> String {
        match self {
            Lookup::Exact => field.to_string(),
            other => format!("{field}__{}", other.suffix()),
        }
    }

    /// Short description for documentation.
    pub fn describe(self) -> &'static str {
        match self {
            Lookup::Exact => "equal to",
            Lookup::In => "one of (comma-separated)",
            Lookup::Gt => "greater than",
            Lookup::Gte => "greater than or equal to",
            Lookup::Lt => "less than",
            Lookup::Lte => "less than or equal to",
            Lookup::IContains => "contains, case-insensitive",
            Lookup::IStartsWith => "starts with, case-insensitive",
        }
    }
}

/// What a resource's lists may be filtered, searched and ordered by, declared once per
/// resource: DRF's `filterset_fields`, `search_fields` and `ordering_fields`.
#[derive(Debug)]
pub struct Filtering {
    /// Filterable fields and the lookups each allows (`filterset_fields`).
    pub filters: &'static [(&'static str, &'static [Lookup])],
    /// Fields `?search=` matches, case-insensitively, as substrings (`search_fields`).
    pub search: &'static [&'static str],
    /// Fields `?ordering=` accepts (`ordering_fields`); they must not be nullable.
    pub ordering: &'static [&'static str],
    /// Ordering when the request names none, e.g. `&["-created_at"]`. The primary key
    /// breaks every tie.
    pub default_ordering: &'static [&'static str],
}

/// Everything a list request may name: a resource's [`Filtering`] with the kinds of its
/// fields (from its field table). The API layer parses requests against it and documents
/// it; the persistence layer maps its names to columns.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// The primary key field; the final tie-breaker of every ordering (stable pages).
    pub primary_key: &'static str,
    /// Every field clients see, with its kind.
    pub fields: Vec<(&'static str, FieldKind)>,
    pub filters: &'static [(&'static str, &'static [Lookup])],
    pub search: &'static [&'static str],
    pub ordering: &'static [&'static str],
    pub default_ordering: &'static [&'static str],
}

impl QuerySpec {
    /// The declarations of `filtering` over the fields clients see.
    pub fn new(fields: &Fields, filtering: &Filtering) -> QuerySpec {
        QuerySpec {
            primary_key: fields.primary_key,
            fields: fields.shown().map(|f| (f.name, f.kind)).collect(),
            filters: filtering.filters,
            search: filtering.search,
            ordering: filtering.ordering,
            default_ordering: filtering.default_ordering,
        }
    }

    pub fn kind_of(&self, field: &str) -> Option<FieldKind> {
        self.fields
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, kind)| *kind)
    }

    /// Every filter parameter, e.g. `("price__gte", "price", FieldKind::Float, Lookup::Gte)`.
    pub fn filter_params(
        &self,
    ) -> impl Iterator<Item = (String, &'static str, FieldKind, Lookup)> + '_ {
        self.filters.iter().flat_map(move |(field, lookups)| {
            let kind = self.kind_of(field).unwrap_or(FieldKind::Text);
            lookups
                .iter()
                .map(move |lookup| (lookup.param_name(field), *field, kind, *lookup))
        })
    }

    /// Checks the declarations name only declared fields: a programming error otherwise,
    /// reported when the resource is registered.
    pub fn check(&self) -> Result<(), String> {
        let known = |name: &str| self.kind_of(name).is_some();
        let mut names: Vec<&str> = vec![self.primary_key];
        names.extend(self.filters.iter().map(|(name, _)| *name));
        names.extend(self.search);
        names.extend(self.ordering);
        names.extend(
            self.default_ordering
                .iter()
                .map(|name| name.trim_start_matches('-')),
        );
        match names.into_iter().find(|name| !known(name)) {
            Some(name) => Err(format!(
                "query declarations name an undeclared field `{name}`"
            )),
            None => Ok(()),
        }
    }
}
