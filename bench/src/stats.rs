//! Per-worker recording (no locks on the hot path) and merging into per-target results.

use std::collections::BTreeMap;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Read,
    Update,
    Delete,
    List,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Create, Op::Read, Op::Update, Op::Delete, Op::List];

    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::List => "list",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Latencies in microseconds. Auto-resizing: a histogram only grows to the largest value
/// it has seen, which keeps thousands of virtual clients' recorders small.
fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is a valid precision")
}

/// What one operation saw.
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Latency of every response (2xx or not); transport errors have no latency.
    pub hist: Histogram<u64>,
    pub non_2xx: u64,
    pub errors: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            hist: histogram(),
            non_2xx: 0,
            errors: 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub ops: [OpStats; 5],
    pub statuses: BTreeMap<u16, u64>,
    /// Units of work that fully succeeded: requests, lifecycles or user tasks.
    pub units_ok: u64,
    /// Open model: units that fell due before the end but were never sent.
    pub missed: u64,
    pub error_sample: Option<String>,
    /// The first unexpected status with the start of its body, to tell why.
    pub status_sample: Option<String>,
}

impl Recorder {
    /// Records `reply`, timed from `origin` (the send time, or in the open model the
    /// intended send time). Returns the body of a 2xx response.
    pub fn record<'a>(&mut self, op: Op, origin: Instant, reply: &'a Reply) -> Option<&'a [u8]> {
        let stats = &mut self.ops[op.index()];
        match reply {
            Ok((status, body)) => {
                let us = u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX);
                // record() grows the auto-resizing histogram; saturating_record() would
                // clamp to its current top instead.
                if stats.hist.record(us.max(1)).is_err() {
                    stats.hist.saturating_record(us.max(1));
                }
                *self.statuses.entry(*status).or_default() += 1;
                if (200..300).contains(status) {
                    return Some(body);
                }
                stats.non_2xx += 1;
                if self.status_sample.is_none() {
                    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
                    self.status_sample = Some(format!("{} -> {status}: {text}", op.name()));
                }
                None
            }
            Err(e) => {
                stats.errors += 1;
                if self.error_sample.is_none() {
                    self.error_sample = Some(format!("{}: {e}", op.name()));
                }
                None
            }
        }
    }

    /// A 2xx response that breaks the contract (e.g. a created item without an id).
    pub fn contract_error(&mut self, op: Op, what: &str) {
        self.ops[op.index()].errors += 1;
        if self.error_sample.is_none() {
            self.error_sample = Some(format!("{}: {what}", op.name()));
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            a.hist
                .add(&b.hist)
                .expect("auto-resizing histograms always merge");
            a.non_2xx += b.non_2xx;
            a.errors += b.errors;
        }
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.units_ok += other.units_ok;
        self.missed += other.missed;
        if self.error_sample.is_none() {
            self.error_sample.clone_from(&other.error_sample);
        }
        if self.status_sample.is_none() {
            self.status_sample.clone_from(&other.status_sample);
        }
    }

    /// Every operation's latencies together.
    pub fn all(&self) -> Histogram<u64> {
        let mut all = histogram();
        for op in &self.ops {
            all.add(&op.hist)
                .expect("auto-resizing histograms always merge");
        }
        all
    }

    pub fn op(&self, op: Op) -> &OpStats {
        &self.ops[op.index()]
    }

    pub fn responses(&self) -> u64 {
        self.ops.iter().map(|o| o.hist.len()).sum()
    }

    pub fn non_2xx(&self) -> u64 {
        self.ops.iter().map(|o| o.non_2xx).sum()
    }

    pub fn errors(&self) -> u64 {
        self.ops.iter().map(|o| o.errors).sum()
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            mean_ms: h.mean().round() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record_n(rec: &mut Recorder, op: Op, n: usize, reply: &Reply) {
        let origin = Instant::now();
        for _ in 0..n {
            rec.record(op, origin, reply);
        }
    }

    #[test]
    fn merge_adds_counts_and_keeps_first_samples() {
        let ok: Reply = Ok((200, Bytes::from_static(b"{}")));
        let missing: Reply = Ok((404, Bytes::from_static(b"{\"detail\":\"Not found.\"}")));
        let refused: Reply = Err("connect: refused".into());

        let mut a = Recorder::default();
        record_n(&mut a, Op::Read, 10, &ok);
        record_n(&mut a, Op::Read, 2, &missing);
        a.units_ok = 10;
        let mut b = Recorder::default();
        record_n(&mut b, Op::Create, 5, &ok);
        record_n(&mut b, Op::Delete, 3, &refused);
        b.units_ok = 5;

        a.merge(&b);
        assert_eq!(a.op(Op::Read).hist.len(), 12);
        assert_eq!(a.op(Op::Create).hist.len(), 5);
        assert_eq!(a.op(Op::Delete).hist.len(), 0, "errors have no latency");
        assert_eq!(
            (a.responses(), a.non_2xx(), a.errors(), a.units_ok),
            (17, 2, 3, 15)
        );
        assert_eq!(a.statuses.get(&200), Some(&15));
        assert_eq!(a.statuses.get(&404), Some(&2));
        assert!(
            a.status_sample
                .as_deref()
                .unwrap()
                .starts_with("read -> 404")
        );
        assert_eq!(a.error_sample.as_deref(), Some("delete: connect: refused"));
        assert_eq!(a.all().len(), 17);
    }

    #[test]
    fn merged_percentiles_match_one_histogram() {
        let mut a = histogram();
        let mut b = histogram();
        let mut both = histogram();
        for v in 1..=1000u64 {
            let h = if v % 2 == 0 { &mut a } else { &mut b };
            h.record(v * 10).unwrap();
            both.record(v * 10).unwrap();
        }
        // b grows far beyond a's range: merging must resize, not fail.
        b.record(5_000_000).unwrap();
        both.record(5_000_000).unwrap();
        a.add(&b).unwrap();
        assert_eq!(Latency::of(&a), Latency::of(&both));
        let l = Latency::of(&a);
        assert!((l.p50_ms - 5.0).abs() < 0.05, "{l:?}");
        assert!((l.max_ms - 5000.0).abs() < 5.0, "{l:?}");
        assert!(
            l.p50_ms <= l.p90_ms
                && l.p90_ms <= l.p99_ms
                && l.p99_ms <= l.p999_ms
                && l.p999_ms <= l.max_ms
        );
    }

    #[test]
    fn empty_latency_is_zero() {
        assert_eq!(Latency::of(&histogram()), Latency::default());
    }
}
