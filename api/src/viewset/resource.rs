//! The traits a resource implements. [`Resource`] is DRF's `GenericAPIView` with the list
//! and retrieve mixins; [`Writable`] adds the create, update and destroy mixins. Actions are
//! default methods of a few lines; the hooks they call are what a resource overrides.
//!
//! The futures are not `Send`: actix-web runs each worker's handlers on one thread.
#![allow(async_fn_in_trait)]

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use domain::auth::Permission;
use domain::query::{ListParams, QuerySpec};
use infrastructure::repository::{IntoInsert, IntoUpdate, Page, Table, Written, now};
use sea_orm::{ActiveModelTrait, Condition, EntityTrait, IntoActiveModel};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use validator::Validate;

use super::conditional::Precondition;
use super::{Ctx, body, respond};
use crate::error::{ApiError, ApiResult};

/// The row type of a resource's table.
pub type Model<R> = <<R as Resource>::Entity as EntityTrait>::Model;
/// Column values for writes to a resource's table.
pub type ActiveModel<R> = <<R as Resource>::Entity as EntityTrait>::ActiveModel;

/// A resource clients can list and retrieve: `ReadOnlyModelViewSet`.
pub trait Resource: Sized + 'static {
    /// The SeaORM entity (table) behind the resource.
    type Entity: Table<
            Model: Sync + IntoActiveModel<ActiveModel<Self>>,
            ActiveModel: ActiveModelTrait<Entity = Self::Entity> + Send,
        >;
    /// What clients read: the serializer's output. Its doc comment describes the resource.
    type Read: Serialize + ToSchema + From<Model<Self>>;

    /// Singular name, e.g. `Item`: OpenAPI tag, operation ids, `OPTIONS` name.
    const NAME: &'static str;
    /// URL segment, e.g. `items`: routes are `/items/` and `/items/{id}/` (slash optional).
    const PATH: &'static str;
    /// What lists may be filtered, searched and ordered by.
    const QUERY: &'static QuerySpec;
    /// DRF `permission_classes`: this resource's policy; `None` takes `auth.permission`
    /// from configuration.
    const PERMISSION: Option<Permission> = None;

    // ----- hooks -----

    /// DRF `has_permission`: may this request go on? Runs before every action, after
    /// authentication. Override to add rules (a refusal is 403 for an authenticated caller,
    /// 401 otherwise). Default: the resource's policy.
    fn has_permission(ctx: &Ctx<'_>) -> bool {
        let policy = Self::PERMISSION.unwrap_or(ctx.state.permission);
        policy.allows(ctx.principal.is_some(), ctx.request.method().is_safe())
    }

    /// DRF `get_queryset`: the rows this request may see. Every action goes through it:
    /// override to scope rows, e.g. to the caller's own. Default: all rows.
    fn get_queryset(_ctx: &Ctx<'_>) -> Condition {
        Condition::all()
    }

    /// DRF `get_object`: the row the detail URL names, or 404. Override to add per-object
    /// checks.
    async fn get_object(ctx: &Ctx<'_>) -> ApiResult<Model<Self>> {
        let id = ctx.path_id::<Self>()?;
        ctx.repository::<Self>()
            .get(id)
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// DRF `filter_queryset` + `paginate_queryset`: one page of the rows `params` asks for.
    async fn paginate_queryset(ctx: &Ctx<'_>, params: &ListParams) -> ApiResult<Page<Model<Self>>> {
        Ok(ctx.repository::<Self>().list(Self::QUERY, params).await?)
    }

    // ----- actions -----

    /// `GET /{path}/`: a page of rows, filtered, searched and ordered as asked.
    async fn list(ctx: &Ctx<'_>) -> ApiResult {
        let params = ctx.list_params(Self::QUERY)?;
        let page = Self::paginate_queryset(ctx, &params).await?;
        respond::page::<Self>(ctx, &params, page)
    }

    /// `GET /{path}/{id}/`: one row, with its ETag; 304 when `If-None-Match` matches it.
    async fn retrieve(ctx: &Ctx<'_>) -> ApiResult {
        let model = Self::get_object(ctx).await?;
        respond::representation::<Self>(ctx, StatusCode::OK, model, None)
    }
}

/// A resource clients can also create, replace, patch and delete: `ModelViewSet`.
/// Its table needs a version column ([`Table::version_column`]) for ETags and `If-Match`.
pub trait Writable: Resource {
    /// Body of POST and PUT: every writable field.
    type Create: DeserializeOwned
        + Validate
        + ToSchema
        + IntoInsert<Self::Entity>
        + IntoUpdate<Self::Entity>;
    /// Body of PATCH: every field optional.
    type Patch: DeserializeOwned + Validate + ToSchema + IntoUpdate<Self::Entity>;

    // ----- hooks -----

    /// DRF `perform_create`: saves a validated payload. Override to set fields from the
    /// request (an owner, say) or to act after saving.
    async fn perform_create(ctx: &Ctx<'_>, data: Self::Create) -> ApiResult<Model<Self>> {
        Ok(ctx
            .repository::<Self>()
            .insert(data.into_insert(now()))
            .await?)
    }

    /// DRF `perform_update`: writes validated changes (PUT and PATCH) in one statement that
    /// also checks `If-Match`, so concurrent writers cannot lose each other's updates.
    async fn perform_update(
        ctx: &Ctx<'_>,
        id: <Self::Entity as Table>::Key,
        values: ActiveModel<Self>,
        precondition: &Precondition,
    ) -> ApiResult<Model<Self>> {
        match ctx
            .repository::<Self>()
            .update(id, values, precondition.expected())
            .await?
        {
            Written::Done(model) => Ok(model),
            Written::NotFound => Err(ApiError::NotFound),
            Written::VersionMismatch => Err(ApiError::PreconditionFailed),
        }
    }

    /// DRF `perform_destroy`: deletes the row, honouring `If-Match`.
    async fn perform_destroy(
        ctx: &Ctx<'_>,
        id: <Self::Entity as Table>::Key,
        precondition: &Precondition,
    ) -> ApiResult<()> {
        match ctx
            .repository::<Self>()
            .delete(id, precondition.expected())
            .await?
        {
            Written::Done(()) => Ok(()),
            Written::NotFound => Err(ApiError::NotFound),
            Written::VersionMismatch => Err(ApiError::PreconditionFailed),
        }
    }

    // ----- actions -----

    /// `POST /{path}/`: 201 with `Location`, `ETag` and the new row.
    async fn create(ctx: &Ctx<'_>, body: Bytes) -> ApiResult {
        let schema = ctx.info.create.as_ref().ok_or(ApiError::NotFound)?;
        let data = body::parse::<Self::Create, Self::Patch>(schema, &body, false)?;
        let model = Self::perform_create(ctx, data).await?;
        respond::created::<Self>(ctx, model)
    }

    /// `PUT /{path}/{id}/`: replaces every writable field.
    async fn update(ctx: &Ctx<'_>, body: Bytes) -> ApiResult {
        let schema = ctx.info.create.as_ref().ok_or(ApiError::NotFound)?;
        let id = ctx.path_id::<Self>()?;
        let data = body::parse::<Self::Create, Self::Patch>(schema, &body, false);
        let values = not_found_first::<Self, _>(ctx, data)
            .await?
            .into_update(now());
        let model =
            Self::perform_update(ctx, id, values, &Precondition::from_request(ctx.request)).await?;
        respond::representation::<Self>(ctx, StatusCode::OK, model, None)
    }

    /// `PATCH /{path}/{id}/`: changes only the fields sent.
    async fn partial_update(ctx: &Ctx<'_>, body: Bytes) -> ApiResult {
        let schema = ctx.info.patch.as_ref().ok_or(ApiError::NotFound)?;
        let id = ctx.path_id::<Self>()?;
        let data = body::parse::<Self::Patch, Self::Patch>(schema, &body, true);
        let values = not_found_first::<Self, _>(ctx, data)
            .await?
            .into_update(now());
        let model =
            Self::perform_update(ctx, id, values, &Precondition::from_request(ctx.request)).await?;
        respond::representation::<Self>(ctx, StatusCode::OK, model, None)
    }

    /// `DELETE /{path}/{id}/`: 204, no body.
    async fn destroy(ctx: &Ctx<'_>) -> ApiResult {
        let id = ctx.path_id::<Self>()?;
        Self::perform_destroy(ctx, id, &Precondition::from_request(ctx.request)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
}

/// As in DRF, an invalid body sent to a missing row is a 404, not a 400. The lookup
/// happens only on that error path, so valid writes stay one statement.
async fn not_found_first<R: Resource, T>(ctx: &Ctx<'_>, parsed: ApiResult<T>) -> ApiResult<T> {
    match parsed {
        Err(ApiError::Validation(errors)) => match R::get_object(ctx).await {
            Err(ApiError::NotFound) => Err(ApiError::NotFound),
            _ => Err(ApiError::Validation(errors)),
        },
        other => other,
    }
}
