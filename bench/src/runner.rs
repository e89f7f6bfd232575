//! The run: probe and seed every target, then for each load level warm every target up and
//! measure them interleaved, round by round (A B A B ...), so drift on a shared machine
//! hits all targets alike; then delete what the run created.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use hyper::Method;
use hyper::header::HeaderValue;

use crate::cli::{Level, Mode, Settings, Stop};
use crate::client::{Conn, Endpoint};
use crate::report::{Cleanup, Round, Row, per_s};
use crate::rss::Sampler;
use crate::stats::{Latency, Recorder};
use crate::target::{Paths, TargetSpec};
use crate::workload::{self, Plan, Workload, id_of};

/// Connections used to seed and to clean up (not measured).
const HELPERS: usize = 4;

struct Target {
    spec: TargetSpec,
    endpoint: Arc<Endpoint>,
    paths: Paths,
    pid: Option<u32>,
    seeded: Arc<Vec<i64>>,
}

/// What several slices of one target at one level add up to.
#[derive(Default)]
struct Cell {
    rec: Recorder,
    elapsed: Duration,
    rounds: Vec<Round>,
    peak_rss_kb: Option<u64>,
}

pub struct Outcome {
    pub rows: Vec<Row>,
    pub cleanup: Cleanup,
}

struct Runner<'a> {
    settings: &'a Settings,
    interrupted: Arc<AtomicBool>,
    cleanup: Cleanup,
}

pub async fn run(settings: &Settings, interrupted: Arc<AtomicBool>) -> Result<Outcome, String> {
    let mut runner = Runner {
        settings,
        interrupted,
        cleanup: Cleanup::default(),
    };
    let mut targets = Vec::new();
    for spec in &settings.targets {
        let addr = spec.resolve(settings.allow_remote)?;
        let endpoint = Arc::new(Endpoint {
            addr,
            host: HeaderValue::from_str(&spec.authority)
                .map_err(|e| format!("target {}: {e}", spec.name))?,
            timeout: Duration::from_secs_f64(settings.timeout_s),
        });
        let query = settings.list_query(&spec.name);
        let paths = Paths::new(spec, settings.trailing_slash, query);
        probe(&spec.name, &endpoint, &paths).await?;
        let pid = settings
            .server_pids
            .iter()
            .find(|(n, _)| *n == spec.name)
            .map(|(_, p)| *p);
        targets.push(Target {
            spec: spec.clone(),
            endpoint,
            paths,
            pid,
            seeded: Arc::default(),
        });
    }
    if settings.mode.needs_seed() {
        for i in 0..targets.len() {
            match seed(&targets[i], settings.seed).await {
                Ok(ids) => {
                    runner.cleanup.seeded += ids.len() as u64;
                    targets[i].seeded = Arc::new(ids);
                }
                Err((ids, e)) => {
                    runner.cleanup.seeded += ids.len() as u64;
                    targets[i].seeded = Arc::new(ids);
                    runner.finish(&targets).await;
                    return Err(format!("seeding {}: {e}", targets[i].spec.name));
                }
            }
            runner.progress(format_args!(
                "[{}] seeded {} items",
                targets[i].spec.name,
                targets[i].seeded.len()
            ));
        }
    }
    let rows = runner.measure(&targets).await;
    runner.finish(&targets).await;
    Ok(Outcome {
        rows,
        cleanup: runner.cleanup,
    })
}

impl Runner<'_> {
    fn progress(&self, line: std::fmt::Arguments<'_>) {
        if !self.settings.quiet {
            eprintln!("{line}");
        }
    }

    fn stopped(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    async fn measure(&mut self, targets: &[Target]) -> Vec<Row> {
        let s = self.settings;
        let mut rows = Vec::new();
        for level in &s.levels {
            let label = level.label(s.mode);
            if s.warmup_s > 0.0 {
                for t in targets {
                    if self.stopped() {
                        break;
                    }
                    self.progress(format_args!(
                        "[{}] {} {label}: warm-up {} s",
                        t.spec.name,
                        s.mode.name(),
                        s.warmup_s
                    ));
                    let _ = self.slice(t, *level, Stop::DurationS(s.warmup_s)).await;
                }
            }
            let mut cells: Vec<Cell> = targets.iter().map(|_| Cell::default()).collect();
            for round in 0..s.rounds {
                for (t, cell) in targets.iter().zip(cells.iter_mut()) {
                    if self.stopped() {
                        break;
                    }
                    let (rec, elapsed, rss) = self.slice(t, *level, s.slice_stop(round)).await;
                    let secs = elapsed.as_secs_f64();
                    let p99 = Latency::of(&rec.all()).p99_ms;
                    let round_row = Round {
                        elapsed_s: (secs * 1000.0).round() / 1000.0,
                        req_per_s: per_s(rec.responses(), secs),
                        p99_ms: p99,
                    };
                    self.progress(format_args!(
                        "[{}] {} {label} round {}/{}: {:.0} req/s, p99 {p99} ms, non-2xx {}, errors {}",
                        t.spec.name,
                        s.mode.name(),
                        round + 1,
                        s.rounds,
                        round_row.req_per_s,
                        rec.non_2xx(),
                        rec.errors()
                    ));
                    cell.rec.merge(&rec);
                    cell.elapsed += elapsed;
                    cell.rounds.push(round_row);
                    cell.peak_rss_kb = cell.peak_rss_kb.max(rss);
                }
            }
            for (t, cell) in targets.iter().zip(cells) {
                if cell.rounds.is_empty() {
                    continue;
                }
                let target = (t.spec.name.as_str(), t.spec.url.as_str());
                let secs = cell.elapsed.as_secs_f64();
                rows.push(Row::new(
                    target,
                    s.mode,
                    *level,
                    &cell.rec,
                    secs,
                    cell.rounds,
                    cell.peak_rss_kb,
                ));
            }
        }
        rows
    }

    /// One measurement slice of one target: opens the connections, runs the clients, then
    /// deletes the items they left (outside the measured time).
    async fn slice(
        &mut self,
        t: &Target,
        level: Level,
        stop: Stop,
    ) -> (Recorder, Duration, Option<u64>) {
        let s = self.settings;
        let n = level.concurrency;
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(Conn::open(t.endpoint.clone()).await);
        }
        let workload = Arc::new(Workload::new(
            s.mode,
            t.paths.clone(),
            t.seeded.clone(),
            s.users.clone(),
            self.interrupted.clone(),
        ));
        let sampler = t.pid.map(Sampler::start);
        let start = Instant::now();
        let ramp = s
            .users
            .as_ref()
            .map_or(Duration::ZERO, |u| Duration::from_secs_f64(u.ramp_up_s));
        let record_from = start + ramp;
        let schedule = level.rate.map(|rate| {
            let units_per_s = rate / s.mode.requests_per_unit();
            let stagger = Duration::from_secs_f64(1.0 / units_per_s);
            (stagger * n as u32, stagger)
        });
        let plan = Arc::new(Plan {
            start,
            record_from,
            deadline: match stop {
                Stop::DurationS(d) => Some(record_from + Duration::from_secs_f64(d)),
                Stop::Count(_) => None,
            },
            tickets: match stop {
                Stop::Count(c) => Some(AtomicI64::new(i64::try_from(c).unwrap_or(i64::MAX))),
                Stop::DurationS(_) => None,
            },
            schedule,
        });
        let handles: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let (w, p) = (workload.clone(), plan.clone());
                if s.mode == Mode::Users {
                    tokio::spawn(workload::user(w, p, conn, i, n))
                } else {
                    tokio::spawn(workload::client(w, p, conn, i))
                }
            })
            .collect();
        let mut rec = Recorder::default();
        let mut leftovers = Vec::new();
        let mut end = record_from;
        for h in handles {
            match h.await {
                Ok(out) => {
                    rec.merge(&out.rec);
                    leftovers.extend(out.leftovers);
                    end = end.max(out.end.unwrap_or(end));
                }
                Err(e) => rec.contract_error(
                    crate::stats::Op::Read,
                    &format!("virtual client failed: {e}"),
                ),
            }
        }
        let rss = match sampler {
            Some(sm) => sm.finish().await,
            None => None,
        };
        self.dispose(t, leftovers).await;
        (rec, end.saturating_duration_since(record_from), rss)
    }

    /// Deletes items the run created, unless --keep.
    async fn dispose(&mut self, t: &Target, ids: Vec<i64>) {
        if ids.is_empty() {
            return;
        }
        if self.settings.keep {
            self.cleanup.kept += ids.len() as u64;
            return;
        }
        let (deleted, gone, failed) = delete_all(t, ids).await;
        self.cleanup.deleted += deleted;
        self.cleanup.gone += gone;
        self.cleanup.failed += failed;
        if failed > 0 {
            self.progress(format_args!(
                "[{}] {failed} items could not be deleted",
                t.spec.name
            ));
        }
    }

    async fn finish(&mut self, targets: &[Target]) {
        for t in targets {
            let ids = t.seeded.as_ref().clone();
            if !ids.is_empty() {
                let n = ids.len();
                self.dispose(t, ids).await;
                if !self.settings.keep {
                    self.progress(format_args!(
                        "[{}] deleted the {n} seeded items",
                        t.spec.name
                    ));
                }
            }
        }
    }
}

/// One list request before anything else, so a wrong URL fails fast and clearly.
async fn probe(name: &str, endpoint: &Arc<Endpoint>, paths: &Paths) -> Result<(), String> {
    let mut conn = Conn::open(endpoint.clone()).await;
    match conn.send(Method::GET, paths.list(), None).await {
        Ok((status, _)) if (200..300).contains(&status) => Ok(()),
        Ok((status, body)) => Err(format!(
            "target {name}: GET {} answered {status}: {}",
            paths.list(),
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
        Err(e) => Err(format!(
            "target {name} ({}) is not answering: {e}",
            endpoint.addr
        )),
    }
}

/// Creates `n` items over a few connections; on failure, the ids made so far and why.
async fn seed(t: &Target, n: usize) -> Result<Vec<i64>, (Vec<i64>, String)> {
    let mut handles = Vec::new();
    for h in 0..HELPERS {
        let (endpoint, path) = (t.endpoint.clone(), t.paths.collection());
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::open(endpoint).await;
            let mut ids = Vec::new();
            for i in (h..n).step_by(HELPERS) {
                let body = format!(
                    r#"{{"name":"bench-seed-{i}","description":"seeded by bench","price":{}.5,"in_stock":{}}}"#,
                    i % 100,
                    i % 2 == 0
                );
                let reply = conn.send(Method::POST, &path, Some(&body.into())).await;
                match reply {
                    Ok((status, body)) if (200..300).contains(&status) => match id_of(&body) {
                        Some(id) => ids.push(id),
                        None => return Err((ids, "POST answered without an integer id".to_string())),
                    },
                    Ok((status, body)) => {
                        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                        return Err((ids, format!("POST answered {status}: {text}")));
                    }
                    Err(e) => return Err((ids, e)),
                }
            }
            Ok(ids)
        }));
    }
    let mut all = Vec::with_capacity(n);
    let mut failure = None;
    for h in handles {
        match h.await {
            Ok(Ok(ids)) => all.extend(ids),
            Ok(Err((ids, e))) => {
                all.extend(ids);
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(e.to_string());
            }
        }
    }
    match failure {
        None => Ok(all),
        Some(e) => Err((all, e)),
    }
}

/// DELETEs `ids` over a few connections: (deleted, already gone, failed).
async fn delete_all(t: &Target, ids: Vec<i64>) -> (u64, u64, u64) {
    let ids = Arc::new(ids);
    let mut handles = Vec::new();
    for h in 0..HELPERS.min(ids.len()) {
        let (endpoint, paths, ids) = (t.endpoint.clone(), t.paths.clone(), ids.clone());
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::open(endpoint).await;
            let mut counts = (0, 0, 0);
            for &id in ids.iter().skip(h).step_by(HELPERS) {
                match conn.send(Method::DELETE, &paths.item(id), None).await {
                    Ok((status, _)) if (200..300).contains(&status) => counts.0 += 1,
                    Ok((404, _)) => counts.1 += 1,
                    _ => counts.2 += 1,
                }
            }
            counts
        }));
    }
    let mut total = (0, 0, 0);
    for h in handles {
        let c = h.await.unwrap_or((0, 0, 0));
        total = (total.0 + c.0, total.1 + c.1, total.2 + c.2);
    }
    total
}
