//! A request's time limit and its writes. A request cut off while its write waits at the
//! database would answer 503 and then have the write applied all the same, so a client that
//! retries would create twice. Once a request has sent a write whose time the database
//! bounds (PostgreSQL's `statement_timeout`, SQLite's busy timeout), the limit therefore lets
//! it finish, and it answers with the outcome. A write the database does not bound
//! (PostgreSQL with `database.statement_timeout_ms = 0`) is cut off like anything else, and
//! the caller learns that the write may still be applied.

use std::cell::Cell;
use std::time::Duration;

tokio::task_local! {
    static SENT: Cell<Sent>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Nothing,
    Bounded,
    Unbounded,
}

/// How an action ended against its time limit.
#[derive(Debug, PartialEq, Eq)]
pub enum Within<T> {
    Done(T),
    /// Cut off at the limit. `write_sent`: after it had sent a write that the database does
    /// not bound, which may still be applied.
    TimedOut {
        write_sent: bool,
    },
}

/// Runs `action` for at most `limit`, or to its end once it has sent a write the database
/// bounds (see the module's comment).
pub async fn within<T>(limit: Duration, action: impl Future<Output = T>) -> Within<T> {
    SENT.scope(Cell::new(Sent::Nothing), async move {
        let mut action = std::pin::pin!(action);
        match tokio::time::timeout(limit, action.as_mut()).await {
            Ok(output) => Within::Done(output),
            Err(_) => match SENT.with(Cell::get) {
                Sent::Bounded => Within::Done(action.await),
                sent => Within::TimedOut {
                    write_sent: sent == Sent::Unbounded,
                },
            },
        }
    })
    .await
}

/// Notes that a write goes to the database now (nothing outside [`within`]); `bounded`: the
/// database ends it in time.
pub(super) fn sending_write(bounded: bool) {
    let _ = SENT.try_with(|sent| {
        if sent.get() != Sent::Unbounded {
            sent.set(if bounded {
                Sent::Bounded
            } else {
                Sent::Unbounded
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(20);

    async fn write_then_sleep(bounded: Option<bool>, sleep: Duration) -> &'static str {
        if let Some(bounded) = bounded {
            sending_write(bounded);
        }
        tokio::time::sleep(sleep).await;
        "done"
    }

    #[tokio::test]
    async fn an_action_past_the_limit_is_cut_off_unless_it_sent_a_bounded_write() {
        let long = LIMIT * 5;
        assert_eq!(
            within(LIMIT, write_then_sleep(None, long)).await,
            Within::TimedOut { write_sent: false }
        );
        assert_eq!(
            within(LIMIT, write_then_sleep(Some(true), long)).await,
            Within::Done("done")
        );
        assert_eq!(
            within(LIMIT, write_then_sleep(Some(false), long)).await,
            Within::TimedOut { write_sent: true }
        );
        assert_eq!(
            within(LIMIT, write_then_sleep(Some(false), Duration::ZERO)).await,
            Within::Done("done")
        );
        // Outside `within` a write is noted nowhere, and each request starts afresh.
        sending_write(false);
        assert_eq!(
            within(LIMIT, write_then_sleep(None, long)).await,
            Within::TimedOut { write_sent: false }
        );
    }
}
