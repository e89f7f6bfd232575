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
    /// `?category__isnull=true`: relations only.
    IsNull,
}

impl Lookup {
    pub const ALL: [Lookup; 9] = [
        Lookup::Exact,
        Lookup::In,
        Lookup::Gt,
        Lookup::Gte,
        Lookup::Lt,
        Lookup::Lte,
        Lookup::IContains,
        Lookup::IStartsWith,
        Lookup::IsNull,
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
            Lookup::IsNull => "isnull",
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
            Lookup::IsNull => "null (`true`) or not null (`false`)",
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
    /// Fields `?ordering=` accepts (`ordering_fields`).
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
    /// The relations of the resource: filters and orderings through them.
    pub relations: Vec<RelatedQuery>,
}

/// A relation as lists see it (the resource's field `name`, stored in `column`, holds the
/// key of a row of `table`): `?category=`, `?category__in=`, `?category__isnull=`, the
/// target's declared filters as `?category__name__icontains=`, and its orderings as
/// `?ordering=category__name`.
#[derive(Debug, Clone)]
pub struct RelatedQuery {
    pub name: &'static str,
    pub column: &'static str,
    /// The kind of the target's key (and so of the column).
    pub key_kind: FieldKind,
    /// The column may be null: rows without a target.
    pub nullable: bool,
    /// The target's table.
    pub table: &'static str,
    /// What the target's lists accept (without its own relations).
    pub target: QuerySpec,
}

/// One filter parameter a list understands, e.g. `category__name__icontains`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterParam {
    pub name: String,
    /// The field: the resource's own, or, with `via`, the target's.
    pub field: &'static str,
    /// The relation the filter goes through.
    pub via: Option<&'static str>,
    pub kind: FieldKind,
    pub lookup: Lookup,
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
            relations: Vec::new(),
        }
    }

    /// The relation named `name`.
    pub fn relation(&self, name: &str) -> Option<&RelatedQuery> {
        self.relations.iter().find(|r| r.name == name)
    }

    /// The column of field `name`: a relation's column, else the field's own name.
    pub fn column_of<'s>(&'s self, name: &'s str) -> &'s str {
        self.relation(name).map_or(name, |r| r.column)
    }

    /// Every value `?ordering=` accepts (without `-`): the declared fields, then each
    /// relation's target's as `category__name`.
    pub fn ordering_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.ordering.iter().map(|f| f.to_string()).collect();
        for relation in &self.relations {
            for field in relation.target.ordering {
                names.push(format!("{}__{field}", relation.name));
            }
        }
        names
    }

    pub fn kind_of(&self, field: &str) -> Option<FieldKind> {
        self.fields
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, kind)| *kind)
    }

    /// Every filter parameter: the declared ones (`price__gte`), then per relation its own
    /// (`category`, `category__in`, `category__isnull` when nullable) and its target's
    /// (`category__name__icontains`).
    pub fn filter_params(&self) -> Vec<FilterParam> {
        let mut params: Vec<FilterParam> = self.own_filter_params(None).collect();
        for relation in &self.relations {
            let mut lookups = vec![Lookup::Exact, Lookup::In];
            if relation.nullable {
                lookups.push(Lookup::IsNull);
            }
            params.extend(lookups.into_iter().map(|lookup| FilterParam {
                name: lookup.param_name(relation.name),
                field: relation.name,
                via: None,
                kind: match lookup {
                    Lookup::IsNull => FieldKind::Boolean,
                    _ => relation.key_kind,
                },
                lookup,
            }));
            params.extend(relation.target.own_filter_params(Some(relation.name)));
        }
        params
    }

    fn own_filter_params(
        &self,
        via: Option<&'static str>,
    ) -> impl Iterator<Item = FilterParam> + '_ {
        self.filters.iter().flat_map(move |(field, lookups)| {
            let kind = self.kind_of(field).unwrap_or(FieldKind::Text);
            lookups.iter().map(move |lookup| {
                let name = lookup.param_name(field);
                FilterParam {
                    name: match via {
                        Some(relation) => format!("{relation}__{name}"),
                        None => name,
                    },
                    field,
                    via,
                    kind,
                    lookup: *lookup,
                }
            })
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
