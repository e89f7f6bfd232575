//! The resources and their rules, free of HTTP and of any database driver.
//!
//! - [`fields`]: a resource's fields and their rules (DRF's `ModelSerializer`), declared once;
//!   request bodies are checked against them.
//! - [`item`]: the showcase resource: its representation, its rules and its list declarations.
//! - [`category`]: the second resource, likewise.
//! - [`query`]: what a list request may ask for (filters, search, ordering, pagination) and
//!   how its query string is parsed against a resource's declarations.
//! - [`errors`]: DRF-shaped field errors, shared by body checks and query parsing.
//! - [`auth`]: permission policies, token keys, throttle rates.
//! - [`timestamp`]: timestamps in JSON, written fast.

pub mod auth;
pub mod category;
pub mod errors;
pub mod fields;
pub mod item;
pub mod query;
pub mod timestamp;

pub use errors::FieldErrors;
