//! What every action sees: the request, the shared state and its resource's registration.

use actix_web::http::Method;
use actix_web::{HttpRequest, web};
use domain::FieldErrors;
use domain::fields::Fields;
use domain::query::{Filter, Lookup, QuerySpec, Value};
use std::time::Duration;

use domain::auth::{Permission, Principal};
use infrastructure::database::Db;
use infrastructure::repository::{Repository, Table};

use super::metadata::ResourceInfo;
use super::pagination::{ListRequest, PageDefaults, Query};
use super::relations::{self, Relation};
use super::resource::Resource;
use crate::error::{ApiError, ApiResult};
use crate::security::{AllowedHosts, Throttle, TrustedProxies};

/// State shared by the requests of one worker.
pub struct AppState {
    /// This worker's way to the database.
    pub db: Db,
    pub pages: PageDefaults,
    pub body_limit: usize,
    /// Whose `X-Forwarded-*` headers count (`server.trusted_proxies`).
    pub proxies: TrustedProxies,
    /// The hosts requests may name and links may use (`server.allowed_hosts`).
    pub allowed_hosts: AllowedHosts,
    /// The configured policy, for resources that do not set their own.
    pub permission: Permission,
    /// This worker's throttle; `None` when throttling is off.
    pub throttle: Option<Throttle>,
    pub request_timeout: Duration,
    pub idempotency_ttl: Duration,
}

/// The request context handed to actions and hooks (DRF's `self.request` and friends).
pub struct Ctx<'a> {
    pub request: &'a HttpRequest,
    /// The method the permission hooks judge (DRF's `request.method`): the request's own,
    /// except when `OPTIONS` asks them whether the caller could `POST` or `PUT`, to describe
    /// only the writes the caller may make (DRF's `SimpleMetadata`). Hooks read this one.
    pub method: Method,
    pub state: &'a AppState,
    /// The authenticated caller, if any (DRF's `request.user`).
    pub principal: Option<Principal>,
    pub(crate) info: &'a ResourceInfo,
    /// On a nested route (`/categories/{parent}/items/`): the relation and the key of the
    /// target row the URL names.
    pub(crate) parent: Option<(&'a Relation, Value)>,
}

/// Marks a nested route: the relation (by index in the resource's relations) whose target
/// the URL's `{parent}` names.
pub(crate) struct Nested(pub usize);

impl<'a> Ctx<'a> {
    pub(crate) fn of(request: &'a HttpRequest) -> ApiResult<Ctx<'a>> {
        let missing = |what: &str| {
            ApiError::Internal(format!("{what} not registered for {}", request.path()))
        };
        let state = request
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| missing("AppState"))?;
        let info = request
            .app_data::<web::Data<ResourceInfo>>()
            .ok_or_else(|| missing("ResourceInfo"))?;
        let parent = match request.app_data::<Nested>() {
            Some(Nested(relation)) => {
                let relation = info
                    .relations
                    .get(*relation)
                    .ok_or_else(|| missing("relation"))?;
                let raw = request.match_info().get("parent").unwrap_or_default();
                Some((
                    relation,
                    relation.key_from_path(raw).ok_or(ApiError::NotFound)?,
                ))
            }
            None => None,
        };
        Ok(Ctx {
            request,
            method: request.method().clone(),
            state,
            info,
            principal: None,
            parent,
        })
    }

    /// The same request, as the permission hooks would see it were its method `method`.
    pub(crate) fn as_if(&self, method: Method) -> Ctx<'a> {
        Ctx {
            method,
            principal: self.principal.clone(),
            parent: self.parent.clone(),
            ..*self
        }
    }

    /// On a nested route, the row the URL names must exist (404 otherwise).
    pub(crate) async fn check_parent(&self) -> ApiResult<()> {
        match &self.parent {
            Some((relation, key)) if !relation.exists(self.db(), key).await? => {
                Err(ApiError::NotFound)
            }
            _ => Ok(()),
        }
    }

    /// The relations the resource holds the keys of.
    pub fn relations(&self) -> &'a [Relation] {
        &self.info.relations
    }

    /// `?expand=` of a detail request, checked.
    pub fn expand(&self) -> ApiResult<Vec<usize>> {
        if self.info.relations.is_empty() {
            return Ok(Vec::new());
        }
        let query = Query::parse(self.request.query_string());
        let mut errors = FieldErrors::new();
        let expand = relations::parse_expand(
            &self.info.relations,
            query.get(relations::EXPAND),
            &mut errors,
        );
        Ok(errors.into_result(expand)?)
    }

    pub fn db(&self) -> &'a Db {
        &self.state.db
    }

    /// The repository of `R`'s entity, limited to what `R::get_queryset` lets this request see.
    pub fn repository<R: Resource>(&self) -> Repository<'a, R::Entity> {
        Repository::new(self.db(), R::get_queryset(self))
    }

    /// The primary key in the detail URL; a segment that is not a valid key is a 404, and so
    /// is one that is not the key as printed (`/items/+1`, `/items/01`: one row, one URL).
    pub fn path_id<R: Resource>(&self) -> ApiResult<<R::Entity as Table>::Key> {
        let raw = self
            .request
            .match_info()
            .get("id")
            .ok_or(ApiError::NotFound)?;
        let key: <R::Entity as Table>::Key = raw.parse().map_err(|_| ApiError::NotFound)?;
        if !printed_as(&key, raw) {
            return Err(ApiError::NotFound);
        }
        Ok(key)
    }

    /// What a refused permission answers: 403 for an authenticated caller, 401 otherwise.
    pub fn refusal(&self) -> ApiError {
        if self.principal.is_some() {
            ApiError::PermissionDenied
        } else {
            ApiError::NotAuthenticated
        }
    }

    /// The resource's fields and their rules.
    pub fn fields(&self) -> &'a Fields {
        &self.info.fields
    }

    /// What the resource's lists accept.
    pub fn query(&self) -> &'a QuerySpec {
        &self.info.query
    }

    /// The list query string, checked against the resource's declarations, pagination and
    /// indexes.
    pub async fn list_request(&self) -> ApiResult<ListRequest> {
        let query = Query::parse(self.request.query_string());
        let indexed = self.info.indexed(self.db()).await?;
        let mut request = ListRequest::parse(
            self.info.pagination,
            self.query(),
            &self.info.relations,
            &query,
            &self.state.pages,
            indexed,
        )?;
        if let Some((relation, key)) = &self.parent {
            request.params.filters.push(Filter {
                field: relation.name,
                via: None,
                lookup: Lookup::Exact,
                values: vec![key.clone()],
            });
        }
        Ok(request)
    }
}

/// Does `key` print as `raw`? (Compared as it is written out: no allocation per request.)
pub fn printed_as(key: &impl std::fmt::Display, raw: &str) -> bool {
    struct Rest<'a>(&'a str);
    impl std::fmt::Write for Rest<'_> {
        fn write_str(&mut self, printed: &str) -> std::fmt::Result {
            self.0 = self.0.strip_prefix(printed).ok_or(std::fmt::Error)?;
            Ok(())
        }
    }
    let mut rest = Rest(raw);
    std::fmt::write(&mut rest, format_args!("{key}")).is_ok() && rest.0.is_empty()
}

#[cfg(test)]
mod tests {
    use super::printed_as;

    #[test]
    fn a_key_is_printed_as_only_its_own_spelling() {
        assert!(printed_as(&12_i64, "12"));
        assert!(printed_as(&-5_i64, "-5"));
        assert!(printed_as(&"abc", "abc"));
        for other in ["+12", "012", " 12", "12 ", "1", "123", ""] {
            assert!(!printed_as(&12_i64, other), "{other:?}");
        }
    }
}
