//! The generic viewset: Django REST Framework's mixins, `GenericAPIView` and router, as Rust
//! traits with default methods. A resource implements [`Resource`] (read actions) and, if
//! clients may write it, [`Writable`]; one [`Router`] call registers its routes. Every
//! action is a short default method calling hooks a resource may override.

mod actions;
mod body;
mod conditional;
mod context;
mod expand;
mod handlers;
mod idempotency;
mod links;
mod metadata;
pub mod openapi;
pub mod pagination;
mod relations;
mod resource;
mod respond;
mod router;
mod unique;

pub use actions::Actions;
pub use conditional::Precondition;
pub use context::{AppState, Ctx};
pub use relations::{OnDelete, Relation};
pub use resource::{ActiveModel, Model, ObjectPermission, Resource, Writable};
pub use router::Router;

/// The viewset's own headers, which CORS lets a browser's script send or read.
pub(crate) use idempotency::{IDEMPOTENCY_KEY, REPLAYED};
pub(crate) use respond::COUNT_KIND;
