//! What can go wrong in persistence, in the terms the API layer answers with.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached, is busy or timed out: worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database cancelled the statement: it ran past `statement_timeout` (PostgreSQL
    /// SQLSTATE 57014, `query_canceled`). The connection is still good.
    #[error("statement timed out: {0}")]
    TimedOut(String),
    /// Anything else. The message is for logs only, never for clients.
    #[error("unexpected database error: {0}")]
    Unexpected(String),
}

impl From<DbErr> for PersistenceError {
    fn from(error: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(what)) = error.sql_err() {
            return PersistenceError::Conflict(what);
        }
        if postgres_code(&error).as_deref() == Some(QUERY_CANCELED) {
            return PersistenceError::TimedOut(error.to_string());
        }
        if is_unavailable(&error) {
            return PersistenceError::Unavailable(error.to_string());
        }
        match error {
            DbErr::RecordNotFound(_) => PersistenceError::NotFound,
            other => PersistenceError::Unexpected(other.to_string()),
        }
    }
}

/// PostgreSQL's SQLSTATE for a statement cancelled by `statement_timeout` (or by
/// `pg_cancel_backend`).
const QUERY_CANCELED: &str = "57014";

/// The SQLSTATE of an error PostgreSQL answered with.
fn postgres_code(error: &DbErr) -> Option<String> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sea_orm::sqlx::Error::Database(db)
                    if db
                        .try_downcast_ref::<sea_orm::error::SqlxPostgresError>()
                        .is_some() =>
                {
                    db.code().map(|code| code.into_owned())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                Sqlx::Protocol(_) => true,
                Sqlx::Database(db) => {
                    let sqlite = db
                        .try_downcast_ref::<sea_orm::error::SqlxSqliteError>()
                        .is_some();
                    db.code()
                        .is_some_and(|code| unavailable_code(&code, sqlite))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// PostgreSQL: connection exceptions (08), operator intervention such as a shutdown (57;
/// a cancelled statement, 57014, is [`PersistenceError::TimedOut`] before this is asked),
/// too many connections (53300). SQLite: busy (5) and locked (6), extended codes included.
fn unavailable_code(code: &str, sqlite: bool) -> bool {
    if sqlite {
        code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
    } else {
        code.starts_with("08") || code.starts_with("57") || code == "53300"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_are_unavailable_and_other_errors_unexpected() {
        let timeout = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert!(matches!(
            PersistenceError::from(timeout),
            PersistenceError::Unavailable(_)
        ));
        let other = DbErr::Custom("boom".into());
        assert!(matches!(
            PersistenceError::from(other),
            PersistenceError::Unexpected(_)
        ));
        assert!(unavailable_code("57014", false) && unavailable_code("08006", false));
        assert!(unavailable_code("5", true) && unavailable_code("517", true));
        assert!(!unavailable_code("23505", false) && !unavailable_code("42P01", false));
        assert!(!unavailable_code("19", true));
    }
}
