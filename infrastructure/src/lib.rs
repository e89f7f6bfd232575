//! Persistence with SeaORM: the connection pool ([`database`]), the error type the API maps
//! to statuses ([`PersistenceError`]), the tables ([`entities`]) and one generic repository
//! that serves every entity ([`repository`]).

pub mod database;
pub mod entities;
pub mod environment;
pub mod error;
pub mod idempotency;
pub mod repository;
pub mod secret;
pub mod tokens;

pub use database::{Backend, DatabaseSettings};
pub use environment::Environment;
pub use error::PersistenceError;
pub use secret::Secret;
