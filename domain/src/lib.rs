//! The resources and their rules, free of HTTP and of any database driver.
//!
//! - [`item`]: the showcase resource's payload types, validation rules and query declarations.
//! - [`query`]: what a list request may ask for (filters, search, ordering, pagination) and
//!   how its query string is parsed against a resource's declarations.
//! - [`errors`]: DRF-shaped field errors, shared by validation and query parsing.
//! - [`auth`]: permission policies, token keys, throttle rates.
//! - [`timestamp`]: timestamps in JSON, written fast.

pub mod auth;
pub mod errors;
pub mod item;
pub mod query;
pub mod timestamp;

pub use errors::FieldErrors;
