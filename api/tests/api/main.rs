//! API tests: the real server over HTTP, against PostgreSQL and SQLite.

mod helpers;

mod actions;
mod categories;
mod conditional;
mod connections;
mod deployment;
mod docs;
mod errors;
mod faults;
mod filtering;
mod fuzz;
mod genericity;
mod health;
mod hooks;
mod items;
mod logs;
mod metrics;
mod outage;
mod pagination;
mod relations;
mod security;
mod shutdown;
mod timeouts;
mod validation;
