//! The SQL of the statements that reach one row by its key (get, insert, update, delete),
//! kept by shape. Their SQL depends only on a few facts (the entity, the operation, the
//! columns written, the scope's condition, how many versions `If-Match` allows), and SeaORM
//! spends more building it than the database spends running it. Each operation states its
//! shape and its values, in the order SeaORM writes them, and how SeaORM builds it:
//!
//! - the first time a shape is seen, SeaORM builds the statement; when its values are the
//!   ones the operation stated, in that order, its SQL is kept for the shape;
//! - after that the kept SQL goes out with the stated values, and SeaORM builds nothing;
//! - a shape whose build disagrees with its stated values is never kept (a warning says
//!   so): it is built every time, so a disagreement costs speed, never a wrong statement
//!   (and fails the tests, whose builds assert that every shape they reach agrees).
//!
//! Every operation takes this one path, scoped or not: the scope is part of the shape (its
//! SQL, with its values added to the statement's). Side by side, skipping the builds serves
//! more requests per second: bench/README.md, "What changed, side by side".

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::Query;
use sea_orm::{Condition, DbBackend, Statement, Value, Values};

/// Shapes kept per handle at most: past this, new shapes are built every time. (A client
/// controls how many versions `If-Match` lists, and so the number of shapes.)
const MAX_SHAPES: usize = 256;

/// What a statement's SQL depends on; its values are all the rest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape {
    entity: TypeId,
    operation: Operation,
    /// The columns the statement writes, as bits in `Column::iter()` order.
    columns: Columns,
    /// The scope's condition as SQL (empty: no scope).
    scope: Box<str>,
}

/// The operations with a shape, and what else their SQL depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Get,
    Insert,
    /// `expected`: how many versions the statement accepts (`None`: any).
    Update {
        expected: Option<usize>,
    },
    Delete {
        expected: Option<usize>,
    },
}

impl Shape {
    pub fn new<E: 'static>(operation: Operation, columns: Columns, scope: &Scope) -> Shape {
        Shape {
            entity: TypeId::of::<E>(),
            operation,
            columns,
            scope: scope.sql.clone(),
        }
    }
}

/// A set of columns, by their positions in `Column::iter()`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Columns(Vec<u64>);

impl Columns {
    pub fn insert(&mut self, position: usize) {
        let (word, bit) = (position / 64, position % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }
}

/// A scope's condition as its SQL and its values.
#[derive(Debug, Default)]
pub struct Scope {
    sql: Box<str>,
    pub values: Vec<Value>,
}

impl Scope {
    /// `condition` as SQL for `backend` (nothing to build when it is empty, as an unscoped
    /// repository's is).
    pub fn of(condition: &Condition, backend: DbBackend) -> Scope {
        if condition.is_empty() {
            return Scope::default();
        }
        let built = backend.build(Query::select().cond_where(condition.clone()));
        Scope {
            sql: built.sql.into(),
            values: built.values.map(|values| values.0).unwrap_or_default(),
        }
    }
}

/// The SQL of each shape a handle has built (one per worker: no contention).
#[derive(Debug)]
pub struct Statements {
    known: Mutex<HashMap<Shape, Option<Arc<str>>>>,
    /// A shape whose stated values disagree with its build panics (test builds: every
    /// shape the suite reaches is checked), or is logged and built every time (release).
    strict: bool,
}

impl Default for Statements {
    fn default() -> Self {
        Statements {
            known: Mutex::default(),
            strict: cfg!(debug_assertions),
        }
    }
}

impl Statements {
    /// The statement of `shape` with `values`: the shape's kept SQL, or else `build()`'s.
    pub fn statement(
        &self,
        backend: DbBackend,
        shape: Shape,
        values: Vec<Value>,
        build: impl FnOnce() -> Statement,
    ) -> Statement {
        let kept = self.lock().get(&shape).cloned();
        match kept {
            Some(Some(sql)) => Statement {
                sql: sql.to_string(),
                values: Some(Values(values)),
                db_backend: backend,
            },
            Some(None) => build(),
            None => {
                let statement = build();
                let agrees = statement.values.as_ref().map_or(&[][..], |v| &v.0[..]) == values;
                // Every test build checks each shape the tests reach, on both databases.
                assert!(
                    agrees || !self.strict,
                    "stated values disagree with {statement:?}"
                );
                if !agrees {
                    tracing::warn!(
                        sql = %statement.sql,
                        "a statement's values differ from those its operation states: built every time"
                    );
                }
                let mut known = self.lock();
                if known.len() < MAX_SHAPES {
                    known.insert(shape, agrees.then(|| Arc::from(statement.sql.as_str())));
                }
                statement
            }
        }
    }

    /// Shapes kept, and shapes known to disagree.
    pub fn counts(&self) -> (usize, usize) {
        let known = self.lock();
        let kept = known.values().filter(|sql| sql.is_some()).count();
        (kept, known.len() - kept)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Shape, Option<Arc<str>>>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait};

    fn build(values: &[i64]) -> Statement {
        let mut query = Query::select();
        query.column(Alias::new("a")).from(Alias::new("t"));
        for value in values {
            query.and_where(Expr::col(Alias::new("a")).eq(*value));
        }
        DbBackend::Postgres.build(&query)
    }

    fn shape(scope: &Scope) -> Shape {
        Shape::new::<u8>(Operation::Get, Columns::default(), scope)
    }

    #[test]
    fn a_shape_is_built_once_and_then_takes_new_values() {
        let statements = Statements::default();
        let first = statements.statement(
            DbBackend::Postgres,
            shape(&Scope::default()),
            vec![1i64.into()],
            || build(&[1]),
        );
        assert_eq!(first.sql, build(&[1]).sql);
        let second = statements.statement(
            DbBackend::Postgres,
            shape(&Scope::default()),
            vec![2i64.into()],
            || panic!("a kept shape is not built again"),
        );
        assert_eq!(second.sql, first.sql);
        assert_eq!(second.values, Some(Values(vec![2i64.into()])));
        assert_eq!(statements.counts(), (1, 0));
    }

    /// Test builds stop at the first disagreement, so every shape the suite reaches is
    /// checked.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "stated values disagree")]
    fn test_builds_stop_at_a_disagreement() {
        let statements = Statements::default();
        statements.statement(
            DbBackend::Postgres,
            shape(&Scope::default()),
            vec![Value::from(2i64), Value::from(1i64)],
            || build(&[1, 2]),
        );
    }

    /// Release builds send the build's own statement and never keep the shape.
    #[test]
    fn a_shape_whose_values_disagree_is_built_every_time() {
        let statements = Statements {
            strict: false,
            ..Statements::default()
        };
        let stated = || vec![Value::from(2i64), Value::from(1i64)];
        let built = statements.statement(
            DbBackend::Postgres,
            shape(&Scope::default()),
            stated(),
            || build(&[1, 2]),
        );
        assert_eq!(
            built.values,
            build(&[1, 2]).values,
            "the build's own values go out"
        );
        let mut builds = 0;
        statements.statement(
            DbBackend::Postgres,
            shape(&Scope::default()),
            stated(),
            || {
                builds += 1;
                build(&[1, 2])
            },
        );
        assert_eq!(builds, 1);
        assert_eq!(statements.counts(), (0, 1));
    }

    #[test]
    fn scopes_are_shapes_of_their_own_and_carry_their_values() {
        let owner = |token: &str| {
            Scope::of(
                &Condition::all().add(Expr::col(Alias::new("owner")).eq(token)),
                DbBackend::Postgres,
            )
        };
        assert_eq!(
            Scope::of(&Condition::all(), DbBackend::Postgres)
                .sql
                .as_ref(),
            ""
        );
        let (alice, bob) = (owner("alice"), owner("bob"));
        assert_eq!(alice.sql, bob.sql);
        assert_eq!(alice.values, vec![Value::from("alice")]);
        assert_ne!(shape(&alice), shape(&Scope::default()));
        assert_eq!(shape(&alice), shape(&bob));
    }

    #[test]
    fn column_sets_are_exact_past_sixty_four_columns() {
        let set = |positions: &[usize]| {
            let mut columns = Columns::default();
            positions.iter().for_each(|&p| columns.insert(p));
            columns
        };
        assert_ne!(set(&[0]), set(&[64]));
        assert_ne!(set(&[1, 70]), set(&[1, 134]));
        assert_eq!(set(&[70, 1]), set(&[1, 70]));
    }

    #[test]
    fn shapes_stop_being_kept_past_the_limit() {
        let statements = Statements::default();
        for position in 0..(MAX_SHAPES + 10) {
            let mut columns = Columns::default();
            columns.insert(position);
            let shape = Shape::new::<u8>(Operation::Insert, columns, &Scope::default());
            statements.statement(DbBackend::Postgres, shape, vec![1i64.into()], || {
                build(&[1])
            });
        }
        assert_eq!(statements.counts(), (MAX_SHAPES, 0));
    }
}
