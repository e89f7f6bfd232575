//! The traits a resource implements. [`Resource`] is DRF's `GenericAPIView` with the list
//! and retrieve mixins; [`Writable`] adds the create, update and destroy mixins. Actions are
//! default methods of a few lines; the hooks they call are what a resource overrides.
//!
//! The futures are not `Send`: actix-web runs each worker's handlers on one thread.
#![allow(async_fn_in_trait)]

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use actix_web::web;
use actix_web::web::Bytes;
use domain::auth::Permission;
use domain::fields::Fields;
use domain::query::Filtering;
use domain::query::Value;
use infrastructure::repository::{Page, Repository, Table, Written, active_model};
use sea_orm::{ActiveModelTrait, Condition, EntityName, EntityTrait, IntoActiveModel};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::conditional::{Precondition, names_version};
use super::pagination::{self, ListRequest, Pagination};
use super::relations::{self, Graph, Relation};
use super::{Ctx, body, respond, unique};
use crate::error::{ApiError, ApiResult};

/// The row type of a resource's table.
pub type Model<R> = <<R as Resource>::Entity as EntityTrait>::Model;
/// Column values for writes to a resource's table.
pub type ActiveModel<R> = <<R as Resource>::Entity as EntityTrait>::ActiveModel;
/// A check of one row: see [`Resource::HAS_OBJECT_PERMISSION`].
pub type ObjectPermission<R> = fn(&Ctx<'_>, &Model<R>) -> bool;

/// A resource clients can list and retrieve: `ReadOnlyModelViewSet`.
pub trait Resource: Sized + 'static {
    /// The SeaORM entity (table) behind the resource.
    type Entity: Table<
            Model: Sync + IntoActiveModel<ActiveModel<Self>>,
            ActiveModel: ActiveModelTrait<Entity = Self::Entity> + Send,
        >;
    /// What clients read: the serializer's output, one field per shown field of
    /// [`Resource::fields`].
    type Read: Serialize + From<Model<Self>>;

    /// Singular name, e.g. `Item`: OpenAPI tag, operation ids, `OPTIONS` name.
    const NAME: &'static str;
    /// URL segment, e.g. `items`: routes are `/items/` and `/items/{id}/` (slash optional).
    const PATH: &'static str;
    /// What lists may be filtered, searched and ordered by.
    const FILTERING: &'static Filtering;
    /// DRF `pagination_class`: the pagination styles lists offer, in order of precedence
    /// (the last is the default). Default: all three, as the contract describes.
    const PAGINATION: Pagination = pagination::ALL;
    /// DRF `has_object_permission`: may this request act on this row? `get_object` checks
    /// it, and every detail action reaches its row through `get_object` (a refusal is 403
    /// for an authenticated caller, 401 otherwise). `None`, the default, allows every row
    /// `get_queryset` lets through: writes then find their row in their own statement, one
    /// statement per write. With a check, writes read the row first; `If-Match` is still
    /// checked by the write statement itself, so it stays race-free.
    const HAS_OBJECT_PERMISSION: Option<ObjectPermission<Self>> = None;
    /// DRF `permission_classes`: this resource's policy; `None` takes `auth.permission`
    /// from configuration.
    const PERMISSION: Option<Permission> = None;

    /// DRF `ModelSerializer`: the resource's fields and their rules, given those of its
    /// table's columns (types, nullability, text lengths; read-only key, timestamps and
    /// version). Override to declare what differs: a description, limits, defaults,
    /// examples. Every check of a body, the OpenAPI schemas and `OPTIONS` read the result.
    ///
    /// A relation's field goes by the relation's name here (`category`, not `category_id`),
    /// except when another resource's relation targets this one: its fields are then read
    /// from its columns alone, without its own relations (which may point back to it, or to
    /// itself), and a rule for `category` would find no such field. So a resource that is a
    /// relation's target declares no rules for its own relation fields.
    fn fields(model: Fields) -> Fields {
        model
    }

    /// The relations whose keys this resource's table holds, e.g.
    /// `vec![Relation::to::<Categories>("category", Column::CategoryId, OnDelete::Protect)]`:
    /// see [`Relation`]. The key column's field takes the relation's name.
    fn relations() -> Vec<Relation> {
        Vec::new()
    }

    // ----- hooks -----

    /// DRF `has_permission`: may this request go on? Runs before every action, after
    /// authentication. Override to add rules (a refusal is 403 for an authenticated caller,
    /// 401 otherwise). Default: the resource's policy.
    fn has_permission(ctx: &Ctx<'_>) -> bool {
        let policy = Self::PERMISSION.unwrap_or(ctx.state.permission);
        policy.allows(ctx.principal.is_some(), ctx.method.is_safe())
    }

    /// DRF `get_queryset`: the rows this request may see. Every action goes through it:
    /// override to scope rows, e.g. to the caller's own. Default: all rows.
    fn get_queryset(_ctx: &Ctx<'_>) -> Condition {
        Condition::all()
    }

    /// DRF `get_object`: the row the detail URL names within `get_queryset` (404 otherwise),
    /// checked by `HAS_OBJECT_PERMISSION`. Retrieve and `OPTIONS` read their row through it;
    /// writes do when the resource checks objects (see `HAS_OBJECT_PERMISSION`).
    async fn get_object(ctx: &Ctx<'_>) -> ApiResult<Model<Self>> {
        let id = ctx.path_id::<Self>()?;
        let object = ctx
            .repository::<Self>()
            .get(id)
            .await?
            .ok_or(ApiError::NotFound)?;
        match Self::HAS_OBJECT_PERMISSION {
            Some(allows) if !allows(ctx, &object) => Err(ctx.refusal()),
            _ => Ok(object),
        }
    }

    /// DRF `filter_queryset` + `paginate_queryset`: the page `request` asks for, of the rows
    /// `get_queryset` lets this request see, filtered, searched and ordered as asked.
    async fn paginate_queryset(
        ctx: &Ctx<'_>,
        request: &ListRequest,
    ) -> ApiResult<Page<Model<Self>>> {
        request.fetch(&ctx.repository::<Self>(), ctx.query()).await
    }

    // ----- actions -----

    /// `GET /{path}/`: a page of rows, filtered, searched and ordered as asked.
    async fn list(ctx: &Ctx<'_>) -> ApiResult {
        let request = ctx.list_request().await?;
        let page = Self::paginate_queryset(ctx, &request).await?;
        respond::page::<Self>(ctx, &request, page).await
    }

    /// `GET /{path}/{id}/`: one row, with its ETag; 304 when `If-None-Match` matches it.
    async fn retrieve(ctx: &Ctx<'_>) -> ApiResult {
        let expand = ctx.expand()?;
        let model = Self::get_object(ctx).await?;
        if expand.is_empty() {
            respond::representation::<Self>(ctx, StatusCode::OK, model, None)
        } else {
            respond::expanded::<Self>(ctx, model, &expand).await
        }
    }
}

/// A resource clients can also create, replace, patch and delete: `ModelViewSet`.
/// Its table needs a version column ([`Table::version_column`]) for ETags and `If-Match`.
/// Bodies are checked against [`Resource::fields`]; the hooks get column values.
pub trait Writable: Resource {
    // ----- hooks -----

    /// DRF `perform_create`: saves a checked body's values. Override to set columns from
    /// the request (an owner, say) or to act after saving.
    async fn perform_create(ctx: &Ctx<'_>, values: ActiveModel<Self>) -> ApiResult<Model<Self>> {
        Ok(ctx.repository::<Self>().insert(values).await?)
    }

    /// DRF `perform_update`: writes checked changes (PUT and PATCH) in one statement that
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
        // Rows that refer to it through a `set_null` relation are cleared with it, their
        // versions bumped (the foreign key alone would keep their ETags).
        let cleared = ctx
            .request
            .app_data::<web::Data<Graph>>()
            .map(|graph| graph.cleared_by(Self::Entity::default().table_name()))
            .unwrap_or_default();
        match ctx
            .repository::<Self>()
            .delete_clearing(id, precondition.expected(), &cleared)
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
        // On a nested route the URL sets the relation, whatever the body says; what the body
        // says is checked all the same, as DRF's serializer checks it before
        // `save(category=parent)`.
        let mut object = body::object(&body)?;
        if let Some((parent, key)) = &ctx.parent {
            object
                .entry(parent.name.to_string())
                .or_insert_with(|| key_json(key));
        }
        let mut values = checked_body::<Self>(ctx, object, false, &body, None).await?;
        if let Some((parent, key)) = &ctx.parent {
            let sent: Vec<_> = relations::sent_keys(ctx.relations(), &values)
                .into_iter()
                .filter(|(relation, sent)| std::ptr::eq(*relation, *parent) && sent != key)
                .collect();
            relations::check_keys(ctx.db(), &sent).await?;
            values.insert(parent.column.to_string(), key_json(key));
        }
        let sent = relations::sent_keys(ctx.relations(), &values);
        let model = match Self::perform_create(ctx, active_model::<Self::Entity>(values)?).await {
            Ok(model) => model,
            Err(error @ ApiError::Referenced(_)) if ctx.parent.is_some() => {
                // The parent may have been deleted since the URL was checked: then the
                // route names nothing, a 404, as it would have been a moment earlier.
                ctx.check_parent().await?;
                return Err(write_error::<Self>(ctx, error, &sent).await);
            }
            Err(error) => return Err(write_error::<Self>(ctx, error, &sent).await),
        };
        respond::created::<Self>(ctx, model)
    }

    /// `PUT /{path}/{id}/`: replaces every writable field.
    async fn update(ctx: &Ctx<'_>, body: Bytes) -> ApiResult {
        write::<Self>(ctx, body, false).await
    }

    /// `PATCH /{path}/{id}/`: changes only the fields sent.
    async fn partial_update(ctx: &Ctx<'_>, body: Bytes) -> ApiResult {
        write::<Self>(ctx, body, true).await
    }

    /// `DELETE /{path}/{id}/`: 204, no body.
    async fn destroy(ctx: &Ctx<'_>) -> ApiResult {
        let id = ctx.path_id::<Self>()?;
        check_object::<Self>(ctx).await?;
        let precondition = precondition::<Self>(ctx).await?;
        let mut attempts = 2;
        loop {
            attempts -= 1;
            match Self::perform_destroy(ctx, id.clone(), &precondition).await {
                Ok(()) => return Ok(HttpResponse::NoContent().finish()),
                Err(refused @ ApiError::Referenced(_)) => match protected::<Self>(ctx).await? {
                    Some(conflict) => return Err(conflict),
                    // The rows that referred to it went meanwhile: once more.
                    None if attempts > 0 => {}
                    None => return Err(refused),
                },
                Err(error) => return Err(error),
            }
        }
    }
}

/// A write's body checked against the resource's fields and relations; refused, with any
/// unique value another row (not `except`) holds reported beside its other errors.
async fn checked_body<R: Resource>(
    ctx: &Ctx<'_>,
    object: Map<String, Json>,
    partial: bool,
    body: &[u8],
    except: Option<<R::Entity as Table>::Key>,
) -> ApiResult<Map<String, Json>> {
    match relations::check_body(ctx.db(), ctx.fields(), ctx.relations(), object, partial).await {
        Err(ApiError::Validation(errors)) => {
            Err(unique::with_taken::<R>(ctx, errors, body, except).await)
        }
        checked => checked,
    }
}

/// PUT and PATCH: check the body (a 404 first if the row is missing and the body is
/// bad, as in DRF), then one conditional write.
async fn write<R: Writable>(ctx: &Ctx<'_>, body: Bytes, partial: bool) -> ApiResult {
    let id = ctx.path_id::<R>()?;
    check_object::<R>(ctx).await?;
    let checked = match body::object(&body) {
        Ok(object) => checked_body::<R>(ctx, object, partial, &body, Some(id.clone())).await,
        Err(error) => Err(error),
    };
    let values = not_found_first::<R, _>(ctx, checked).await?;
    let sent = relations::sent_keys(ctx.relations(), &values);
    let values = active_model::<R::Entity>(values)?;
    let precondition = precondition::<R>(ctx).await?;
    match R::perform_update(ctx, id, values, &precondition).await {
        Ok(model) => respond::representation::<R>(ctx, StatusCode::OK, model, None),
        Err(error) => Err(write_error::<R>(ctx, error, &sent).await),
    }
}

/// A write's condition: `If-Match`, which the write checks itself (compare-and-set). A
/// write with `If-None-Match` (rare: RFC 9110 answers 412 when it matches the row, `*`
/// matching any) reads the row first, then holds the write to the version it read.
async fn precondition<R: Resource>(ctx: &Ctx<'_>) -> ApiResult<Precondition> {
    let if_match = Precondition::from_request(ctx.request);
    if !ctx.request.headers().contains_key(header::IF_NONE_MATCH) {
        return Ok(if_match);
    }
    let model = R::get_object(ctx).await?;
    let Some(version) = Repository::<R::Entity>::version_of(&model) else {
        return Ok(if_match);
    };
    if !if_match.admits(version) || names_version(ctx.request, version) {
        return Err(ApiError::PreconditionFailed);
    }
    Ok(Precondition::Versions(vec![version]))
}

/// A refused write in the client's terms: a unique field's or a relation's error (DRF's
/// texts), else the error as it is.
async fn write_error<R: Resource>(
    ctx: &Ctx<'_>,
    error: ApiError,
    sent: &[(&Relation, Value)],
) -> ApiError {
    match error {
        refused @ ApiError::Referenced(_) => relations::invalid_key(ctx.db(), sent, refused).await,
        error => unique::field_error::<R>(ctx)(error),
    }
}

/// A delete a foreign key refused: the on-delete 409 naming how many rows protect the row,
/// or `None` when none does any more.
async fn protected<R: Resource>(ctx: &Ctx<'_>) -> ApiResult<Option<ApiError>> {
    let (Some(graph), Some(raw)) = (
        ctx.request.app_data::<web::Data<Graph>>(),
        ctx.request.match_info().get("id"),
    ) else {
        return Ok(None);
    };
    let kind = ctx.fields().kind_of(ctx.fields().primary_key);
    let Some(key) = kind.and_then(|kind| Value::parse(kind, raw).ok()) else {
        return Ok(None);
    };
    let table = R::Entity::default().table_name();
    graph.protected(ctx.db(), table, R::NAME, &key).await
}

/// A key as JSON, as a client would send it.
fn key_json(key: &Value) -> Json {
    match key {
        Value::Integer(v) => Json::from(*v),
        Value::Text(v) => Json::from(v.as_str()),
        _ => Json::Null,
    }
}

/// A resource that checks objects reaches the row of a write through `get_object` first.
async fn check_object<R: Resource>(ctx: &Ctx<'_>) -> ApiResult<()> {
    if R::HAS_OBJECT_PERMISSION.is_some() {
        R::get_object(ctx).await?;
    }
    Ok(())
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
