//! Results: one row per target and load level, rendered as markdown and JSON (the SVG
//! chart is in svg.rs).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::{Level, Mode, Settings, Stop};
use crate::stats::{Latency, Op, Recorder};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub started_at: String,
    pub finished_at: String,
    /// Stopped early by Ctrl-C: the rows hold what was measured until then.
    pub interrupted: bool,
    pub settings: Settings,
    pub results: Vec<Row>,
    pub cleanup: Cleanup,
}

/// Items this run created and what became of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    pub seeded: u64,
    pub deleted: u64,
    /// Already gone when deleted (404).
    pub gone: u64,
    pub failed: u64,
    pub kept: u64,
}

/// One measured round of a row (for drift between rounds).
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub elapsed_s: f64,
    pub req_per_s: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpRow {
    #[serde(flatten)]
    pub latency: Latency,
    pub req_per_s: f64,
    pub non_2xx: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    pub url: String,
    pub mode: Mode,
    pub label: String,
    pub concurrency: usize,
    /// Open model: the requests/s asked for.
    pub rate: Option<f64>,
    pub elapsed_s: f64,
    /// Responses received, whatever their status.
    pub requests: u64,
    /// Fully successful units: requests, lifecycles or user tasks.
    pub units_ok: u64,
    pub unit: &'static str,
    /// Open model: units due before the end that were never sent (the server fell behind).
    pub missed: u64,
    pub req_per_s: f64,
    pub units_per_s: f64,
    pub latency: Latency,
    pub per_op: BTreeMap<Op, OpRow>,
    pub non_2xx: u64,
    pub errors: u64,
    pub status_counts: BTreeMap<u16, u64>,
    pub first_error: Option<String>,
    pub first_non_2xx: Option<String>,
    /// Highest RSS of the server's process tree sampled during this row's slices.
    pub peak_rss_mb: Option<f64>,
    pub rounds: Vec<Round>,
}

pub fn per_s(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

impl Row {
    pub fn new(
        target: (&str, &str),
        mode: Mode,
        level: Level,
        rec: &Recorder,
        elapsed_s: f64,
        rounds: Vec<Round>,
        peak_rss_kb: Option<u64>,
    ) -> Row {
        let per_op = Op::ALL
            .iter()
            .filter(|&&op| rec.op(op).hist.len() + rec.op(op).errors > 0)
            .map(|&op| {
                let s = rec.op(op);
                let row = OpRow {
                    latency: Latency::of(&s.hist),
                    req_per_s: per_s(s.hist.len(), elapsed_s),
                    non_2xx: s.non_2xx,
                    errors: s.errors,
                };
                (op, row)
            })
            .collect();
        Row {
            target: target.0.to_string(),
            url: target.1.to_string(),
            mode,
            label: level.label(mode),
            concurrency: level.concurrency,
            rate: level.rate,
            elapsed_s: (elapsed_s * 1000.0).round() / 1000.0,
            requests: rec.responses(),
            units_ok: rec.units_ok,
            unit: unit_name(mode),
            missed: rec.missed,
            req_per_s: per_s(rec.responses(), elapsed_s),
            units_per_s: per_s(rec.units_ok, elapsed_s),
            latency: Latency::of(&rec.all()),
            per_op,
            non_2xx: rec.non_2xx(),
            errors: rec.errors(),
            status_counts: rec.statuses.clone(),
            first_error: rec.error_sample.clone(),
            first_non_2xx: rec.status_sample.clone(),
            peak_rss_mb: peak_rss_kb.map(|kb| (kb as f64 / 1024.0 * 10.0).round() / 10.0),
            rounds,
        }
    }
}

fn unit_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Lifecycle => "lifecycle",
        Mode::Users => "task",
        _ => "request",
    }
}

fn units_header(mode: Mode) -> &'static str {
    match mode {
        Mode::Lifecycle => "lifecycles/s",
        Mode::Users => "tasks/s",
        _ => "ok/s",
    }
}

/// Milliseconds with about three significant digits.
pub fn ms(v: f64) -> String {
    match v {
        v if v < 10.0 => format!("{v:.3}"),
        v if v < 100.0 => format!("{v:.2}"),
        v if v < 1000.0 => format!("{v:.1}"),
        v => format!("{v:.0}"),
    }
}

/// Rates: whole numbers once they are large enough for decimals to be noise.
pub fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn describe(s: &Settings) -> String {
    let model = if s.levels.iter().any(|l| l.rate.is_some()) {
        "open model (fixed arrival rate, latency from the intended send time)"
    } else if s.mode == Mode::Users {
        "closed model with think time"
    } else {
        "closed model"
    };
    let amount = match s.stop {
        Stop::DurationS(d) => format!("{d} s"),
        Stop::Count(n) => format!("{n} {}s", unit_name(s.mode)),
    };
    let rounds = if s.rounds > 1 {
        format!(" in {} interleaved rounds", s.rounds)
    } else {
        String::new()
    };
    let n = s.targets.len();
    format!(
        "{n} target{}, {model}; {amount} per target and load level{rounds}; warm-up {} s; {} generator threads",
        if n == 1 { "" } else { "s" },
        s.warmup_s,
        s.threads
    )
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let mode = self.settings.mode;
        let _ = writeln!(
            out,
            "## bench {}: {}\n",
            mode.name(),
            describe(&self.settings)
        );
        if self.interrupted {
            out.push_str("**Interrupted**: the numbers below cover what ran before Ctrl-C.\n\n");
        }
        let rss = self.results.iter().any(|r| r.peak_rss_mb.is_some());
        let _ = write!(
            out,
            "| target | mode | load | req/s | {} | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | non-2xx | errors |",
            units_header(mode)
        );
        out.push_str(if rss { " peak RSS MB |\n" } else { "\n" });
        out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        out.push_str(if rss { "---:|\n" } else { "\n" });
        for r in &self.results {
            let l = &r.latency;
            let _ = write!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.target,
                mode.name(),
                r.label,
                rate(r.req_per_s),
                rate(r.units_per_s),
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p99_ms),
                ms(l.p999_ms),
                ms(l.max_ms),
                r.non_2xx,
                r.errors
            );
            if rss {
                let _ = write!(
                    out,
                    " {} |",
                    r.peak_rss_mb.map_or("-".into(), |m| format!("{m:.1}"))
                );
            }
            out.push('\n');
        }

        if self.results.iter().any(|r| r.per_op.len() > 1) {
            out.push_str("\nPer operation (ms):\n\n");
            out.push_str("| target | load | op | req/s | p50 | p90 | p99 | p99.9 | max | non-2xx | errors |\n");
            out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for r in &self.results {
                for (op, o) in &r.per_op {
                    let l = &o.latency;
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        r.target,
                        r.label,
                        op.name(),
                        rate(o.req_per_s),
                        ms(l.p50_ms),
                        ms(l.p90_ms),
                        ms(l.p99_ms),
                        ms(l.p999_ms),
                        ms(l.max_ms),
                        o.non_2xx,
                        o.errors
                    );
                }
            }
        }

        self.ratios(&mut out);

        let notes: Vec<String> = self
            .results
            .iter()
            .flat_map(|r| {
                let e = r
                    .first_error
                    .as_ref()
                    .map(|e| format!("- {} {}: first error: {e}", r.target, r.label));
                let s = r
                    .first_non_2xx
                    .as_ref()
                    .map(|s| format!("- {} {}: first non-2xx: {s}", r.target, r.label));
                // An open-model level that fell short: the backlog is in the latencies.
                let short = r.rate.filter(|&asked| r.req_per_s < 0.95 * asked).map(|asked| {
                    format!(
                        "- {} {}: asked for {} req/s, got {}; {} {}s fell due but were never sent: the server (or too few connections, see --concurrency) could not keep up, and the latencies include the wait",
                        r.target,
                        r.label,
                        rate(asked),
                        rate(r.req_per_s),
                        r.missed,
                        r.unit
                    )
                });
                e.into_iter().chain(s).chain(short)
            })
            .collect();
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                out.push_str(&n.replace('\n', " "));
                out.push('\n');
            }
        }
        let c = &self.cleanup;
        let _ = writeln!(
            out,
            "\nreq/s counts every response; {} counts fully successful {}s. Latency covers responses of any status, not transport errors. Items: {} seeded, {} deleted, {} already gone, {} failed to delete, {} kept.",
            units_header(mode),
            unit_name(mode),
            c.seeded,
            c.deleted,
            c.gone,
            c.failed,
            c.kept
        );
        out
    }

    /// Each target against the first one, level by level.
    fn ratios(&self, out: &mut String) {
        let Some(base_name) = self.settings.targets.first().map(|t| t.name.as_str()) else {
            return;
        };
        if self.settings.targets.len() < 2 {
            return;
        }
        let _ = writeln!(
            out,
            "\nRelative to {base_name} (req/s: higher is better; p99: lower is better):\n"
        );
        out.push_str("| target | load | req/s ratio | p99 ratio |\n|---|---|---:|---:|\n");
        for r in self.results.iter().filter(|r| r.target != base_name) {
            let Some(base) = self
                .results
                .iter()
                .find(|b| b.target == base_name && b.label == r.label)
            else {
                continue;
            };
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}x", a / b)
                } else {
                    "-".into()
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                r.target,
                r.label,
                ratio(r.req_per_s, base.req_per_s),
                ratio(r.latency.p99_ms, base.latency.p99_ms)
            );
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises") + "\n"
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::cli::Cli;
    use bytes::Bytes;
    use clap::Parser;
    use std::time::Instant;

    /// A report as a two-target lifecycle run would make it.
    pub fn sample() -> Report {
        let settings = Cli::parse_from([
            "bench",
            "lifecycle",
            "-t",
            "api=http://127.0.0.1:8000",
            "-t",
            "bare=http://127.0.0.1:8005",
            "-c",
            "32,64",
        ])
        .into_settings()
        .unwrap();
        let mut results = Vec::new();
        for (ti, t) in settings.targets.iter().enumerate() {
            for level in &settings.levels {
                let mut rec = Recorder::default();
                let ok = Ok((201, Bytes::new()));
                for op in [Op::Create, Op::Read, Op::Update, Op::Delete] {
                    for _ in 0..(100 * (ti + 1)) {
                        rec.record(op, Instant::now(), &ok);
                    }
                }
                rec.units_ok = 100 * (ti as u64 + 1);
                rec.record(
                    Op::Read,
                    Instant::now(),
                    &Ok((404, Bytes::from_static(b"{\"detail\":\"gone\"}"))),
                );
                let rss = (ti == 1).then_some(10_240);
                let round = Round {
                    elapsed_s: 4.0,
                    req_per_s: 100.0,
                    p99_ms: 1.0,
                };
                results.push(Row::new(
                    (&t.name, &t.url),
                    settings.mode,
                    *level,
                    &rec,
                    4.0,
                    vec![round],
                    rss,
                ));
            }
        }
        Report {
            tool: "bench",
            version: "0",
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:01:00Z".into(),
            interrupted: false,
            settings,
            results,
            cleanup: Cleanup {
                seeded: 0,
                deleted: 3,
                ..Cleanup::default()
            },
        }
    }

    #[test]
    fn markdown_shape() {
        let md = sample().markdown();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        assert!(
            rows[0].starts_with("| target | mode | load | req/s | lifecycles/s | p50 ms"),
            "{md}"
        );
        assert!(
            rows[0].ends_with("peak RSS MB |"),
            "RSS column when a pid was watched: {md}"
        );
        assert!(
            md.contains("| api | lifecycle | c32 | 100 | 25.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| bare | lifecycle | c64 | 200 | 50.0 |"),
            "{md}"
        );
        assert!(md.contains("| 10.0 |\n"), "{md}");
        // per-operation table: 4 ops x 2 targets x 2 levels
        assert_eq!(
            md.lines().filter(|l| l.contains("| update |")).count(),
            4,
            "{md}"
        );
        assert!(md.contains("Relative to api"), "{md}");
        assert!(md.contains("| bare | c32 | 2.00x |"), "{md}");
        assert!(md.contains("first non-2xx: read -> 404"), "{md}");
        // every table line has the same number of cells as its header
        for block in md.split("\n\n").filter(|b| b.starts_with("| ")) {
            let cells: Vec<usize> = block.lines().map(|l| l.matches('|').count()).collect();
            assert!(cells.iter().all(|&c| c == cells[0]), "{block}");
        }
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
        assert_eq!(v["settings"]["mode"], "lifecycle");
        assert_eq!(v["settings"]["rounds"], 3);
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        let r = &results[0];
        for key in [
            "target",
            "label",
            "req_per_s",
            "units_per_s",
            "non_2xx",
            "errors",
            "peak_rss_mb",
            "rounds",
        ] {
            assert!(r.get(key).is_some(), "missing {key}: {r}");
        }
        for key in ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"] {
            assert!(r["latency"][key].is_number(), "{key}");
            assert!(r["per_op"]["create"][key].is_number(), "{key}");
        }
        assert_eq!(r["status_counts"]["404"], 1);
        assert_eq!(r["per_op"]["read"]["non_2xx"], 1);
        assert_eq!(results[3]["peak_rss_mb"], 10.0);
    }

    #[test]
    fn number_formats() {
        assert_eq!(ms(1.23456), "1.235");
        assert_eq!(ms(12.345), "12.35");
        assert_eq!(ms(123.45), "123.5");
        assert_eq!(ms(12345.6), "12346");
        assert_eq!(rate(12345.6), "12346");
        assert_eq!(rate(45.66), "45.7");
    }
}
