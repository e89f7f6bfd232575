//! API tests: the real server over HTTP, against PostgreSQL and SQLite.

mod helpers;

mod conditional;
mod errors;
mod filtering;
mod genericity;
mod health;
mod items;
mod outage;
mod pagination;
mod shutdown;
mod validation;
