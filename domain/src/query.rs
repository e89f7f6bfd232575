//! List queries: what a resource declares it can be filtered, searched and ordered by
//! ([`QuerySpec`]), and a client's request parsed against those declarations ([`ListParams`]).
//!
//! Parsing never trusts a client's names: every field a query touches is one the resource
//! declared, so the persistence layer only ever sees declared column names.

mod cursor;
mod params;
mod spec;

pub use cursor::Cursor;
pub use params::{
    CountMode, Filter, ListParams, MAX_CURSOR_LEN, NULL_CHARACTERS, OrderBy, PageDefaults,
    Pagination, Value, names,
};
pub use spec::{FieldKind, Lookup, QuerySpec};
