//! SQL text of statements that differ only in their bound values, built once per entity,
//! operation, shape (which columns a write sets, how many versions it accepts) and backend,
//! and kept per thread (each HTTP worker has its own; no locking).
//!
//! SQL is kept only once it is verified: the first statement of a shape is built in full by
//! SeaORM, and its SQL is reused only if the values it binds are exactly the ones the
//! repository lists for that shape, in the same order. A shape whose statement binds anything
//! else (an expression with constants of its own, say) is simply built every time.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use sea_orm::{DbBackend, Statement, Value};

type Key = (TypeId, &'static str, u64, u8);

thread_local! {
    static SQL: RefCell<HashMap<Key, Rc<str>>> = RefCell::new(HashMap::new());
}

fn key<E: 'static>(operation: &'static str, shape: u64, backend: DbBackend) -> Key {
    let backend_id = match backend {
        DbBackend::Postgres => 0,
        DbBackend::Sqlite => 1,
        _ => 2,
    };
    (TypeId::of::<E>(), operation, shape, backend_id)
}

/// The verified SQL of `operation` on `E` for statements of this shape, if there is one.
pub fn lookup<E: 'static>(
    operation: &'static str,
    shape: u64,
    backend: DbBackend,
) -> Option<Rc<str>> {
    SQL.with(|cache| {
        cache
            .borrow()
            .get(&key::<E>(operation, shape, backend))
            .cloned()
    })
}

/// Keeps the SQL of `built` for later statements of this shape if it binds exactly `bound`.
pub fn remember<E: 'static>(
    operation: &'static str,
    shape: u64,
    built: &Statement,
    bound: &[Value],
) -> bool {
    let values = built.values.as_ref().map_or(&[][..], |v| &v.0[..]);
    if values != bound {
        return false;
    }
    SQL.with(|cache| {
        cache.borrow_mut().insert(
            key::<E>(operation, shape, built.db_backend),
            built.sql.as_str().into(),
        )
    });
    true
}

/// The operations on `E` whose SQL this thread has kept.
#[cfg(test)]
pub fn kept<E: 'static>() -> Vec<&'static str> {
    let mut operations: Vec<_> = SQL.with(|cache| {
        cache
            .borrow()
            .keys()
            .filter(|key| key.0 == TypeId::of::<E>())
            .map(|key| key.1)
            .collect()
    });
    operations.sort_unstable();
    operations.dedup();
    operations
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table;

    #[test]
    fn sql_is_kept_only_when_its_values_are_the_listed_ones() {
        let built = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE t SET a = $1, v = v + $2 WHERE id = $3",
            [Value::from("x"), Value::from(1i32), Value::from(7i64)],
        );
        // The constant 1 left out: that SQL would be reused with the wrong values.
        let partial = [Value::from("x"), Value::from(7i64)];
        assert!(!remember::<Table>("update", 3, &built, &partial));
        assert_eq!(lookup::<Table>("update", 3, DbBackend::Postgres), None);

        let exact = [Value::from("x"), Value::from(1i32), Value::from(7i64)];
        assert!(remember::<Table>("update", 3, &built, &exact));
        assert_eq!(
            lookup::<Table>("update", 3, DbBackend::Postgres).as_deref(),
            Some(built.sql.as_str())
        );
        // Another shape, operation or backend is another statement.
        assert_eq!(lookup::<Table>("update", 1, DbBackend::Postgres), None);
        assert_eq!(lookup::<Table>("delete", 3, DbBackend::Postgres), None);
        assert_eq!(lookup::<Table>("update", 3, DbBackend::Sqlite), None);
    }
}
