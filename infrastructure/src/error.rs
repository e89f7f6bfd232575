//! What can go wrong in persistence, in the terms the API layer answers with.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    #[error("not found")]
    NotFound,
    /// A unique index or constraint refused the write. Holds what the database names as
    /// violated: the index or constraint (`idx_categories_name_lower`), or, for SQLite's
    /// column constraints, the columns (`categories.name`); else the driver's message.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A foreign key refused the write: the row is referred to, or refers to a missing one.
    #[error("foreign key: {0}")]
    Referenced(String),
    /// The database cannot be reached, is busy or timed out: worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database cancelled the statement: it ran past `statement_timeout` (PostgreSQL
    /// SQLSTATE 57014, `query_canceled`). The connection is still good.
    #[error("statement timed out: {0}")]
    TimedOut(String),
    /// A table or column the build expects is missing: the migrations have not been applied
    /// (PostgreSQL 42P01 and 42703; SQLite's `no such table`/`no such column`).
    #[error("schema behind this build: {0}")]
    SchemaBehind(String),
    /// The database would not have this connection: a URL the driver cannot parse, a
    /// database or role that does not exist, a refused password. Waiting does not help.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// Anything else. The message is for logs only, never for clients.
    #[error("unexpected database error: {0}")]
    Unexpected(String),
}

impl From<DbErr> for PersistenceError {
    fn from(error: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() {
            let violated = postgres_constraint(&error).unwrap_or_else(|| sqlite_violated(&message));
            return PersistenceError::Conflict(violated);
        }
        let message = describe(&error);
        if matches!(
            error.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ) || message.contains("FOREIGN KEY constraint failed")
        {
            return PersistenceError::Referenced(message);
        }
        let code = postgres_code(&error);
        if code.as_deref() == Some(QUERY_CANCELED) {
            return PersistenceError::TimedOut(message);
        }
        if matches!(code.as_deref(), Some(UNDEFINED_TABLE | UNDEFINED_COLUMN))
            || message.contains("no such table: ")
            || message.contains("no such column: ")
        {
            return PersistenceError::SchemaBehind(message);
        }
        if is_unavailable(&error) {
            return PersistenceError::Unavailable(message);
        }
        match error {
            DbErr::RecordNotFound(_) => PersistenceError::NotFound,
            _ => PersistenceError::Unexpected(message),
        }
    }
}

/// What went wrong, for logs and start-up lines: where the database answered, its own
/// message and code (sqlx's text adds SeaORM's and its own prefixes, and the line of
/// PostgreSQL's C source that raised it); else the driver's description.
fn describe(error: &DbErr) -> String {
    let Some(db) = answered(error) else {
        return error.to_string();
    };
    let postgres = db
        .try_downcast_ref::<sea_orm::error::SqlxPostgresError>()
        .is_some();
    match (db.code(), postgres) {
        (Some(code), true) => format!("{} (SQLSTATE {code})", db.message()),
        (Some(code), false) => format!("{} (SQLite code {code})", db.message()),
        (None, _) => db.message().to_string(),
    }
}

/// PostgreSQL's SQLSTATE for a statement cancelled by `statement_timeout` (or by
/// `pg_cancel_backend`).
const QUERY_CANCELED: &str = "57014";

/// PostgreSQL's SQLSTATEs for a table or a column that does not exist.
const UNDEFINED_TABLE: &str = "42P01";
const UNDEFINED_COLUMN: &str = "42703";

/// The constraint (or unique index) PostgreSQL names in its error.
fn postgres_constraint(error: &DbErr) -> Option<String> {
    answered(error)?
        .try_downcast_ref::<sea_orm::error::SqlxPostgresError>()?
        .constraint()
        .map(str::to_string)
}

/// What SQLite's `UNIQUE constraint failed: ...` names: `index 'name'` for an index on
/// expressions, else the columns (`table.column, ...`). Any other message is kept whole.
fn sqlite_violated(message: &str) -> String {
    let Some((_, what)) = message.split_once("constraint failed: ") else {
        return message.to_string();
    };
    match what.strip_prefix("index '") {
        Some(index) => index.trim_end_matches('\'').to_string(),
        None => what.to_string(),
    }
}

/// The SQLSTATE of an error PostgreSQL answered with.
fn postgres_code(error: &DbErr) -> Option<String> {
    let db = answered(error)?;
    db.try_downcast_ref::<sea_orm::error::SqlxPostgresError>()?;
    db.code().map(|code| code.into_owned())
}

/// The database's own answer inside `error`, where it answered.
fn answered(error: &DbErr) -> Option<&dyn sea_orm::sqlx::error::DatabaseError> {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => Some(db.as_ref()),
            _ => None,
        },
        _ => None,
    }
}

fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(RuntimeErr::Internal(_)) => true,
        // A connection the database answered and refused (no such database or role, a wrong
        // password) or a URL the driver cannot parse is not an outage: only the transport's
        // and the server's transient failures are.
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
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
        },
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

    #[test]
    fn sqlite_unique_violations_name_the_index_or_the_columns() {
        assert_eq!(
            sqlite_violated("UNIQUE constraint failed: index 'idx_categories_name_lower'"),
            "idx_categories_name_lower"
        );
        assert_eq!(
            sqlite_violated("UNIQUE constraint failed: categories.name"),
            "categories.name"
        );
        assert_eq!(sqlite_violated("something else"), "something else");
    }
}
