//! API tokens: created with a key shown once, listed, revoked, and checked on requests.

use chrono::{DateTime, Duration, Utc};
use domain::auth::{Principal, generate_key, is_prefix, key_prefix, verify_key};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::PersistenceError;
use crate::database::Db;
use crate::entities::token::{self, Column, Entity as Tokens};
use crate::repository::now;

/// `last_used_at` is written at most this often per token: not on every request.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A token as listed: never its key.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<token::Model> for TokenInfo {
    fn from(m: token::Model) -> Self {
        TokenInfo {
            id: m.id,
            name: m.name,
            prefix: m.prefix,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// Creates a token; returns it with its key, which is stored nowhere.
pub async fn create(db: &Db, name: &str) -> Result<(TokenInfo, String), PersistenceError> {
    let key = generate_key().map_err(PersistenceError::Unexpected)?;
    let values = token::ActiveModel {
        id: NotSet,
        name: Set(name.to_string()),
        prefix: Set(key.prefix),
        key_hash: Set(key.hash),
        created_at: Set(now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    let row = Tokens::insert(values).exec_with_returning(db).await?;
    Ok((row.into(), key.key))
}

pub async fn list(db: &Db) -> Result<Vec<TokenInfo>, PersistenceError> {
    let rows = Tokens::find().order_by_asc(Column::Id).all(db).await?;
    Ok(rows.into_iter().map(TokenInfo::from).collect())
}

/// Revokes the token with this id or prefix; `false` when there is none (or it already was).
/// A prefix may be all digits: an argument shaped like a prefix is one.
pub async fn revoke(db: &Db, id_or_prefix: &str) -> Result<bool, PersistenceError> {
    let which = if let Some(prefix) = key_prefix(id_or_prefix) {
        // A whole key names its token, if its hash is the token's.
        let row = Tokens::find()
            .filter(Column::Prefix.eq(prefix))
            .one(db)
            .await?;
        match row.filter(|row| verify_key(id_or_prefix, &row.key_hash)) {
            Some(row) => Column::Id.eq(row.id),
            None => return Ok(false),
        }
    } else {
        match id_or_prefix.parse::<i64>() {
            Ok(id) if !is_prefix(id_or_prefix) => Column::Id.eq(id),
            _ => Column::Prefix.eq(id_or_prefix),
        }
    };
    let result = Tokens::update_many()
        .col_expr(Column::RevokedAt, sea_orm::sea_query::Expr::value(now()))
        .filter(which)
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The caller a presented key belongs to: `None` for unknown, malformed or revoked keys.
pub async fn authenticate(db: &Db, key: &str) -> Result<Option<Principal>, PersistenceError> {
    let Some(prefix) = key_prefix(key) else {
        return Ok(None);
    };
    let row = Tokens::find()
        .filter(Column::Prefix.eq(prefix))
        .one(db)
        .await?;
    let Some(row) = row.filter(|row| row.revoked_at.is_none() && verify_key(key, &row.key_hash))
    else {
        return Ok(None);
    };
    let now = now();
    if row.last_used_at.is_none_or(|used| now - used > TOUCH_EVERY) {
        Tokens::update_many()
            .col_expr(Column::LastUsedAt, sea_orm::sea_query::Expr::value(now))
            .filter(Column::Id.eq(row.id))
            .exec(db)
            .await?;
    }
    Ok(Some(Principal {
        token_id: row.id,
        name: row.name,
    }))
}
