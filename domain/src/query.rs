//! List queries: what a resource declares it can be filtered, searched and ordered by
//! ([`Filtering`], resolved against its fields as a [`QuerySpec`]), and a client's request parsed against those declarations ([`ListParams`]).
//!
//! Parsing never trusts a client's names: every field a query touches is one the resource
//! declared, so the persistence layer only ever sees declared column names.

mod params;
mod spec;

pub use params::{
    CountMode, Filter, ListParams, MAX_IN_VALUES, MAX_SEARCH_TERMS, NULL_CHARACTERS, OrderBy,
    Value, names, ordering_key,
};
pub use spec::{FieldKind, FilterParam, Filtering, Lookup, QuerySpec, RelatedQuery};
