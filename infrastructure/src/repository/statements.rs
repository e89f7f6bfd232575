//! SQL text of statements that differ only in their bound values, built once per entity,
//! operation and backend, and kept per thread (each HTTP worker has its own; no locking).

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use sea_orm::DbBackend;

type Key = (TypeId, &'static str, u8);

thread_local! {
    static SQL: RefCell<HashMap<Key, Rc<str>>> = RefCell::new(HashMap::new());
}

/// The SQL of `operation` on entity `E`, from `build` the first time.
pub fn cached<E: 'static>(
    operation: &'static str,
    backend: DbBackend,
    build: impl FnOnce() -> String,
) -> Rc<str> {
    let backend_id = match backend {
        DbBackend::Postgres => 0,
        DbBackend::Sqlite => 1,
        _ => 2,
    };
    let key = (TypeId::of::<E>(), operation, backend_id);
    if let Some(sql) = SQL.with(|cache| cache.borrow().get(&key).cloned()) {
        return sql;
    }
    let sql: Rc<str> = build().into();
    SQL.with(|cache| cache.borrow_mut().insert(key, sql.clone()));
    sql
}
