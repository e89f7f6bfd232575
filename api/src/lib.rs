//! The HTTP service: start-up, routing, the generic viewset, errors and telemetry.

pub mod cli;
pub mod docs;
pub mod error;
pub mod health;
pub mod metrics;
pub mod resources;
pub mod security;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod viewset;
