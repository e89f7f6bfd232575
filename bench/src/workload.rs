//! What one virtual client does during a measurement slice: the request loops of each
//! mode, under the closed model (next unit as soon as the last one finished) or the open
//! model (units on a fixed schedule, timed from when they were due).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde::Deserialize;

use crate::cli::{Mode, UsersSettings};
use crate::client::Conn;
use crate::stats::{Op, Recorder};
use crate::target::Paths;

const CREATE_BODY: &[u8] =
    br#"{"name":"bench","description":"created by bench","price":9.99,"in_stock":true}"#;
const REPLACE_BODY: &[u8] =
    br#"{"name":"bench-replaced","description":"replaced by bench","price":19.5,"in_stock":false}"#;

/// tokio's timers tick in milliseconds, so a client that sleeps until a unit is due wakes
/// up to about a millisecond late. That much is the generator's, not the server's, and is
/// not charged to the request; anything later (a busy generator, a stalled connection) is.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// Shared by every virtual client of one slice against one target.
pub struct Workload {
    pub mode: Mode,
    pub paths: Paths,
    /// Seeded item ids (get, users).
    pub ids: Arc<Vec<i64>>,
    pub users: Option<UsersSettings>,
    pub create_body: Bytes,
    pub replace_body: Bytes,
    /// Set on Ctrl-C: clients stop after their current unit.
    pub interrupted: Arc<AtomicBool>,
}

impl Workload {
    pub fn new(
        mode: Mode,
        paths: Paths,
        ids: Arc<Vec<i64>>,
        users: Option<UsersSettings>,
        interrupted: Arc<AtomicBool>,
    ) -> Workload {
        Workload {
            mode,
            paths,
            ids,
            users,
            create_body: Bytes::from_static(CREATE_BODY),
            replace_body: Bytes::from_static(REPLACE_BODY),
            interrupted,
        }
    }
}

/// When a slice starts and stops.
pub struct Plan {
    pub start: Instant,
    /// Units started before this are not recorded (the users' ramp-up).
    pub record_from: Instant,
    /// Duration mode: no unit starts at or after this.
    pub deadline: Option<Instant>,
    /// Count mode: units left to start, shared by all clients.
    pub tickets: Option<AtomicI64>,
    /// Open model: (time between one client's units, stagger between clients).
    pub schedule: Option<(Duration, Duration)>,
}

impl Plan {
    fn over(&self, t: Instant) -> bool {
        self.deadline.is_some_and(|d| t >= d)
    }

    fn take_ticket(&self) -> bool {
        self.tickets
            .as_ref()
            .is_none_or(|t| t.fetch_sub(1, Ordering::Relaxed) > 0)
    }
}

/// What a client hands back at the end of a slice.
#[derive(Default)]
pub struct ClientOut {
    pub rec: Recorder,
    /// Items this client created and did not delete: removed after the slice.
    pub leftovers: Vec<i64>,
    pub end: Option<Instant>,
}

/// xorshift64*: plenty for picking ids and tasks, and no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[derive(Deserialize)]
struct Created {
    id: i64,
}

/// The integer `id` of a created item's JSON.
pub fn id_of(body: &[u8]) -> Option<i64> {
    serde_json::from_slice::<Created>(body).ok().map(|c| c.id)
}

/// A get / list / create / lifecycle client.
pub async fn client(w: Arc<Workload>, plan: Arc<Plan>, mut conn: Conn, index: usize) -> ClientOut {
    let mut out = ClientOut::default();
    let mut rng = Rng::new(index as u64 + 1);
    let mut k: u32 = 0;
    while !w.interrupted.load(Ordering::Relaxed) {
        let origin = match plan.schedule {
            None => {
                let now = Instant::now();
                if plan.over(now) {
                    break;
                }
                now
            }
            Some((every, stagger)) => {
                let due = plan.start + stagger * index as u32 + every * k;
                if plan.over(due) {
                    break;
                }
                let now = Instant::now();
                if let Some(deadline) = plan.deadline.filter(|&d| now >= d) {
                    // Time is up with units still due: they are reported as missed rather
                    // than sent late, so a run never outlasts its duration by much.
                    let behind = (deadline - due).as_secs_f64() / every.as_secs_f64();
                    out.rec.missed += behind.ceil() as u64;
                    break;
                }
                if due > now {
                    tokio::time::sleep_until(due.into()).await;
                    Instant::now().min(due + TIMER_SLACK)
                } else {
                    // Behind schedule: the server kept us waiting, and that wait is
                    // part of this request's latency (no coordinated omission).
                    due
                }
            }
        };
        if !plan.take_ticket() {
            break;
        }
        k = k.saturating_add(1);
        unit(&w, &mut conn, &mut rng, origin, &mut out).await;
    }
    out.end = Some(Instant::now());
    out
}

async fn unit(w: &Workload, conn: &mut Conn, rng: &mut Rng, origin: Instant, out: &mut ClientOut) {
    let rec = &mut out.rec;
    match w.mode {
        Mode::Get => {
            let id = w.ids[rng.below(w.ids.len())];
            let reply = conn.send(Method::GET, &w.paths.item(id), None).await;
            if rec.record(Op::Read, origin, &reply).is_some() {
                rec.units_ok += 1;
            }
        }
        Mode::List => {
            let reply = conn.send(Method::GET, w.paths.list(), None).await;
            if rec.record(Op::List, origin, &reply).is_some() {
                rec.units_ok += 1;
            }
        }
        Mode::Create => {
            if let Some(id) = create(w, conn, rec, origin).await {
                out.leftovers.push(id);
                rec.units_ok += 1;
            }
        }
        Mode::Lifecycle => lifecycle(w, conn, origin, out).await,
        Mode::Users => unreachable!("users run their own loop"),
    }
}

/// POST; the new item's id on success.
async fn create(w: &Workload, conn: &mut Conn, rec: &mut Recorder, origin: Instant) -> Option<i64> {
    let reply = conn
        .send(Method::POST, &w.paths.collection(), Some(&w.create_body))
        .await;
    let body = rec.record(Op::Create, origin, &reply)?;
    let id = id_of(body);
    if id.is_none() {
        rec.contract_error(Op::Create, "2xx response without an integer \"id\"");
    }
    id
}

/// The article's script: create -> read -> replace -> delete of the client's own item.
/// The whole unit runs even past the deadline so no half-done item stays behind.
async fn lifecycle(w: &Workload, conn: &mut Conn, origin: Instant, out: &mut ClientOut) {
    let rec = &mut out.rec;
    let Some(id) = create(w, conn, rec, origin).await else {
        return;
    };
    let item = w.paths.item(id);
    let t = Instant::now();
    let read = conn.send(Method::GET, &item, None).await;
    let mut ok = rec.record(Op::Read, t, &read).is_some();
    let t = Instant::now();
    let replace = conn.send(Method::PUT, &item, Some(&w.replace_body)).await;
    ok &= rec.record(Op::Update, t, &replace).is_some();
    let t = Instant::now();
    let delete = conn.send(Method::DELETE, &item, None).await;
    if rec.record(Op::Delete, t, &delete).is_none() {
        out.leftovers.push(id);
        ok = false;
    }
    if ok {
        rec.units_ok += 1;
    }
}

/// A Locust-style user: starts at its place in the ramp-up, then runs weighted tasks with
/// think time in between. Only tasks started after the ramp-up are recorded.
pub async fn user(
    w: Arc<Workload>,
    plan: Arc<Plan>,
    mut conn: Conn,
    index: usize,
    users: usize,
) -> ClientOut {
    let u = w.users.clone().expect("users mode has user settings");
    let mut out = ClientOut::default();
    let mut ramp_scratch = Recorder::default();
    let mut rng = Rng::new(index as u64 + 1);
    let mut own: Vec<i64> = Vec::new();
    let ramp = plan.record_from - plan.start;
    tokio::time::sleep_until((plan.start + ramp.mul_f64(index as f64 / users as f64)).into()).await;

    while !w.interrupted.load(Ordering::Relaxed) {
        let origin = Instant::now();
        if plan.over(origin) {
            break;
        }
        let recording = origin >= plan.record_from;
        if recording && !plan.take_ticket() {
            break;
        }
        let rec = if recording {
            &mut out.rec
        } else {
            &mut ramp_scratch
        };
        if task(
            &w,
            &u,
            &mut conn,
            &mut rng,
            &mut own,
            rec,
            &mut out.leftovers,
        )
        .await
        {
            rec.units_ok += 1;
        }
        let think = u.think.min_ms + rng.next() % (u.think.max_ms - u.think.min_ms + 1);
        if think > 0 {
            let wake = Instant::now() + Duration::from_millis(think);
            if plan.over(wake) {
                break;
            }
            tokio::time::sleep_until(wake.into()).await;
        }
    }
    out.leftovers.extend(own);
    out.end = Some(Instant::now());
    out
}

/// One weighted task; true when its request got a 2xx.
async fn task(
    w: &Workload,
    u: &UsersSettings,
    conn: &mut Conn,
    rng: &mut Rng,
    own: &mut Vec<i64>,
    rec: &mut Recorder,
    leftovers: &mut Vec<i64>,
) -> bool {
    let wt = &u.weights;
    let mut pick = rng.below(wt.total() as usize) as u32;
    let mut chosen = 0;
    for (i, weight) in [wt.list, wt.retrieve, wt.create, wt.update, wt.delete]
        .into_iter()
        .enumerate()
    {
        if pick < weight {
            chosen = i;
            break;
        }
        pick -= weight;
    }
    // Some existing item: one of this user's own or a seeded one.
    let any_item = |rng: &mut Rng| {
        let i = rng.below(own.len() + w.ids.len());
        own.get(i).copied().unwrap_or_else(|| w.ids[i - own.len()])
    };
    let origin = Instant::now();
    match chosen {
        0 => {
            let reply = conn.send(Method::GET, w.paths.list(), None).await;
            rec.record(Op::List, origin, &reply).is_some()
        }
        1 => {
            let id = any_item(rng);
            let reply = conn.send(Method::GET, &w.paths.item(id), None).await;
            rec.record(Op::Read, origin, &reply).is_some()
        }
        3 => {
            let id = any_item(rng);
            let reply = conn
                .send(Method::PUT, &w.paths.item(id), Some(&w.replace_body))
                .await;
            rec.record(Op::Update, origin, &reply).is_some()
        }
        // A user deletes only items it created itself; with none yet, it creates one.
        4 if !own.is_empty() => {
            let id = own.swap_remove(rng.below(own.len()));
            let reply = conn.send(Method::DELETE, &w.paths.item(id), None).await;
            let ok = rec.record(Op::Delete, origin, &reply).is_some();
            if !ok {
                leftovers.push(id);
            }
            ok
        }
        _ => match create(w, conn, rec, origin).await {
            Some(id) => {
                own.push(id);
                true
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_created_items() {
        assert_eq!(id_of(br#"{"id": 42, "name": "x", "price": 1.5}"#), Some(42));
        assert_eq!(id_of(br#"{"name": "x"}"#), None);
        assert_eq!(id_of(br#"{"id": "42"}"#), None);
        assert_eq!(id_of(b"not json"), None);
    }

    #[test]
    fn rng_stays_in_range() {
        let mut r = Rng::new(7);
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            seen[r.below(5)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 1500), "{seen:?}");
    }

    #[test]
    fn tickets_run_out() {
        let plan = Plan {
            start: Instant::now(),
            record_from: Instant::now(),
            deadline: None,
            tickets: Some(AtomicI64::new(2)),
            schedule: None,
        };
        assert!(plan.take_ticket() && plan.take_ticket());
        assert!(!plan.take_ticket() && !plan.take_ticket());
    }
}
