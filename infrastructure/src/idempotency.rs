//! `Idempotency-Key` storage. The first request with a key claims it with one
//! `INSERT ... ON CONFLICT DO NOTHING`, so of any number of concurrent requests exactly one
//! goes ahead; its response is stored for replay until the key expires.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryTrait};

use crate::PersistenceError;
use crate::database::Db;
use crate::entities::idempotency_key::{self, Column, Entity as Keys};
use crate::repository::now;

/// A stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub etag: Option<String>,
}

/// What a request with a key may do.
#[derive(Debug, PartialEq)]
pub enum Claim {
    /// The key is new (or expired, or abandoned): go ahead, then `complete` or `release`.
    Owner,
    /// The first request completed: answer with its response.
    Replay(StoredResponse),
    /// The first request is still being processed.
    InFlight,
    /// The key was used with a different request.
    Mismatch,
}

/// How a key is identified and how long it lives.
pub struct KeyRef<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub ttl: Duration,
    /// An in-flight claim older than this is taken over (its owner died mid-request).
    pub abandoned_after: Duration,
}

pub async fn claim(db: &Db, key: &KeyRef<'_>) -> Result<Claim, PersistenceError> {
    for _ in 0..3 {
        let now = now();
        if try_insert(db, key, now).await? {
            return Ok(Claim::Owner);
        }
        let Some(row) = Keys::find_by_id((key.scope.to_string(), key.key.to_string()))
            .one(db)
            .await?
        else {
            continue; // deleted in between: try again
        };
        if row.expires_at <= now {
            delete_where(db, key, Column::ExpiresAt.lte(now)).await?;
            continue;
        }
        if row.fingerprint != key.fingerprint {
            return Ok(Claim::Mismatch);
        }
        if let Some(status) = row.status {
            return Ok(Claim::Replay(StoredResponse {
                status: u16::try_from(status).unwrap_or(500),
                body: row.body.unwrap_or_default(),
                location: row.location,
                etag: row.etag,
            }));
        }
        if now - row.locked_at < key.abandoned_after {
            return Ok(Claim::InFlight);
        }
        if take_over(db, key, row.locked_at, now).await? {
            return Ok(Claim::Owner);
        }
    }
    Ok(Claim::InFlight)
}

async fn try_insert(
    db: &Db,
    key: &KeyRef<'_>,
    now: DateTime<Utc>,
) -> Result<bool, PersistenceError> {
    let row = idempotency_key::ActiveModel {
        scope: Set(key.scope.to_string()),
        key: Set(key.key.to_string()),
        fingerprint: Set(key.fingerprint.to_string()),
        status: Set(None),
        body: Set(None),
        location: Set(None),
        etag: Set(None),
        locked_at: Set(now),
        expires_at: Set(now + key.ttl),
    };
    let insert = Keys::insert(row)
        .on_conflict(
            OnConflict::columns([Column::Scope, Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .build(db.get_database_backend());
    Ok(db.execute_raw(insert).await?.rows_affected() == 1)
}

async fn take_over(
    db: &Db,
    key: &KeyRef<'_>,
    locked_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, PersistenceError> {
    let result = Keys::update_many()
        .col_expr(Column::LockedAt, Expr::value(now))
        .filter(Column::Scope.eq(key.scope))
        .filter(Column::Key.eq(key.key))
        .filter(Column::Status.is_null())
        .filter(Column::LockedAt.eq(locked_at))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

async fn delete_where(
    db: &Db,
    key: &KeyRef<'_>,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<(), PersistenceError> {
    Keys::delete_many()
        .filter(Column::Scope.eq(key.scope))
        .filter(Column::Key.eq(key.key))
        .filter(condition)
        .exec(db)
        .await?;
    Ok(())
}

/// Stores the owner's response for replay.
pub async fn complete(
    db: &Db,
    key: &KeyRef<'_>,
    response: &StoredResponse,
) -> Result<(), PersistenceError> {
    Keys::update_many()
        .col_expr(Column::Status, Expr::value(i32::from(response.status)))
        .col_expr(Column::Body, Expr::value(response.body.clone()))
        .col_expr(Column::Location, Expr::value(response.location.clone()))
        .col_expr(Column::Etag, Expr::value(response.etag.clone()))
        .filter(Column::Scope.eq(key.scope))
        .filter(Column::Key.eq(key.key))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives the key up (the request failed in a way worth retrying), so a retry runs again.
pub async fn release(db: &Db, key: &KeyRef<'_>) -> Result<(), PersistenceError> {
    delete_where(db, key, Column::Status.is_null()).await
}

/// Deletes expired keys; returns how many.
pub async fn purge_expired(db: &Db) -> Result<u64, PersistenceError> {
    let result = Keys::delete_many()
        .filter(Column::ExpiresAt.lte(now()))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
