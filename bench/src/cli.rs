//! Command line: clap parses, then `Cli::into_settings` validates everything once so the
//! rest of the program works with plain, checked values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::target::TargetSpec;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    version,
    about = "Load generator for HTTP services speaking the /items/ CRUD contract",
    long_about = "Load generator for HTTP services speaking the /items/ CRUD contract.\n\n\
        Closed model (fixed concurrency) by default; --rate switches to the open model \
        (fixed arrival rate, latency measured from the intended send time). Several \
        --target are measured interleaved, round by round. Results: a markdown table on \
        stdout, plus results.md, results.json and chart.svg in --out \
        (default target/bench/<timestamp>/).",
    after_help = "Examples:\n  \
        bench lifecycle --target api=http://127.0.0.1:8000 --duration 10\n  \
        bench get -t api=http://127.0.0.1:8000 -t bare=http://127.0.0.1:8005 -c 32,64 --rounds 4\n  \
        bench list -t drf=http://127.0.0.1:8003 --trailing-slash --list-query '?page_size=50'\n  \
        bench get -t api=http://127.0.0.1:8000 --rate 2000 -c 64\n  \
        bench users -t api=http://127.0.0.1:8000 --users 50 --ramp-up 5 --think-ms 100..500"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Each virtual client loops create -> read -> replace -> delete of its own item.
    Lifecycle(Common),
    /// Locust-style users running weighted tasks with think time, after a ramp-up.
    Users(UsersCmd),
    /// GET /items/{id} over the seeded ids.
    Get(Common),
    /// GET /items/ (plus --list-query) with the seeded rows in the table.
    List(Common),
    /// POST /items/ (created items are deleted after each measurement unless --keep).
    Create(Common),
}

#[derive(Args, Debug)]
pub struct UsersCmd {
    #[command(flatten)]
    pub common: Common,
    /// Number of users; a comma-separated list measures each value.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    pub users: Vec<usize>,
    /// Seconds over which the users are started; not part of the measurement.
    #[arg(long, default_value_t = 2.0)]
    pub ramp_up: f64,
    /// Think time after each task, uniformly drawn from MIN..MAX milliseconds (or one value).
    #[arg(long, default_value = "100..500", value_parser = parse_think)]
    pub think_ms: ThinkTime,
    /// Relative task weights.
    #[arg(
        long,
        default_value = "list=4,retrieve=10,create=2,update=2,delete=1",
        value_parser = parse_weights
    )]
    pub weights: Weights,
}

#[derive(Args, Debug)]
pub struct Common {
    /// Target as NAME=URL (repeatable); a bare URL is named after its host:port.
    #[arg(short, long = "target", value_name = "NAME=URL", required = true, value_parser = parse_target)]
    pub targets: Vec<TargetSpec>,
    /// Virtual clients (connections); a comma-separated list measures each value [default: 32].
    #[arg(short, long, value_delimiter = ',')]
    pub concurrency: Option<Vec<usize>>,
    /// Seconds of measurement per target and load level (split over the rounds) [default: 10].
    #[arg(short, long, conflicts_with = "count")]
    pub duration: Option<f64>,
    /// Instead of a duration: total requests (lifecycles, user tasks) per target and level.
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// Seconds of unrecorded load per target before each load level.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Interleaving rounds (A B A B ...) [default: 1 with one target, 3 with several].
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Requests per second (a list measures each; a lifecycle is 4 requests): open model
    /// instead of closed, with --concurrency connections sending on a fixed schedule.
    #[arg(long, value_delimiter = ',')]
    pub rate: Option<Vec<f64>>,
    /// Detail URLs end with a slash (/items/{id}/), as DRF wants.
    #[arg(long)]
    pub trailing_slash: bool,
    /// Items created per target before get/list/users runs (deleted at the end).
    #[arg(long, default_value_t = 100)]
    pub seed: usize,
    /// Do not delete the items this run created.
    #[arg(long)]
    pub keep: bool,
    /// Query string for list requests, e.g. '?page_size=50', '?cursor=', '?count=estimated';
    /// NAME=?QUERY (repeatable) gives one target its own, e.g. a cursor only it issued.
    #[arg(long)]
    pub list_query: Vec<String>,
    /// Server process to watch as NAME=PID (repeatable): peak RSS of it and its children.
    #[arg(long, value_name = "NAME=PID", value_parser = parse_pid)]
    pub server_pid: Vec<(String, u32)>,
    /// Output folder [default: target/bench/<timestamp>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the JSON report on stdout instead of the markdown table.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Tokio worker threads of the generator.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Seconds before a request counts as an error (and its connection is replaced).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Allow targets outside the loopback range.
    #[arg(long)]
    pub allow_remote: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Lifecycle,
    Users,
    Get,
    List,
    Create,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Lifecycle => "lifecycle",
            Mode::Users => "users",
            Mode::Get => "get",
            Mode::List => "list",
            Mode::Create => "create",
        }
    }

    /// Requests one unit of work sends (used to turn --rate into units per second).
    pub fn requests_per_unit(self) -> f64 {
        if self == Mode::Lifecycle { 4.0 } else { 1.0 }
    }

    pub fn needs_seed(self) -> bool {
        matches!(self, Mode::Get | Mode::List | Mode::Users)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThinkTime {
    pub min_ms: u64,
    pub max_ms: u64,
}

/// Weights of the users' tasks, in this order: list, retrieve, create, update, delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Weights {
    pub list: u32,
    pub retrieve: u32,
    pub create: u32,
    pub update: u32,
    pub delete: u32,
}

impl Weights {
    pub fn total(&self) -> u32 {
        self.list + self.retrieve + self.create + self.update + self.delete
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UsersSettings {
    pub ramp_up_s: f64,
    pub think: ThinkTime,
    pub weights: Weights,
}

/// One load level: closed model (`rate` None) or open model at `rate` requests/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Level {
    pub concurrency: usize,
    pub rate: Option<f64>,
}

impl Level {
    /// Short label for tables and charts: c32, u50, 2000/s c32.
    pub fn label(&self, mode: Mode) -> String {
        match (self.rate, mode) {
            (Some(r), _) => format!("{r}/s c{}", self.concurrency),
            (None, Mode::Users) => format!("u{}", self.concurrency),
            (None, _) => format!("c{}", self.concurrency),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    DurationS(f64),
    Count(u64),
}

/// Everything a run needs, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub mode: Mode,
    pub targets: Vec<TargetSpec>,
    pub levels: Vec<Level>,
    pub stop: Stop,
    pub warmup_s: f64,
    pub rounds: u32,
    pub trailing_slash: bool,
    pub seed: usize,
    pub keep: bool,
    /// For every target: its name and the query string of its list requests.
    pub list_queries: Vec<(String, String)>,
    #[serde(serialize_with = "pids_as_map")]
    pub server_pids: Vec<(String, u32)>,
    pub out: Option<PathBuf>,
    #[serde(skip)]
    pub json: bool,
    #[serde(skip)]
    pub quiet: bool,
    pub threads: usize,
    pub timeout_s: f64,
    pub allow_remote: bool,
    pub users: Option<UsersSettings>,
}

/// `{"api": 1234}` reads better in the JSON report than a list of pairs.
fn pids_as_map<S: serde::Serializer>(pids: &[(String, u32)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pids.iter().map(|(name, pid)| (name, pid)))
}

impl Settings {
    /// The query string of `target`'s list requests ("" for none).
    pub fn list_query(&self, target: &str) -> &str {
        self.list_queries
            .iter()
            .find(|(name, _)| name == target)
            .map_or("", |(_, query)| query)
    }

    /// The share of --duration / --count one round gets (the first rounds take the remainder).
    pub fn slice_stop(&self, round: u32) -> Stop {
        match self.stop {
            Stop::DurationS(d) => Stop::DurationS(d / f64::from(self.rounds)),
            Stop::Count(n) => {
                let r = u64::from(self.rounds);
                Stop::Count(n / r + u64::from(u64::from(round) < n % r))
            }
        }
    }
}

impl Cli {
    pub fn into_settings(self) -> Result<Settings, String> {
        let (mode, common, users) = match self.command {
            Command::Lifecycle(c) => (Mode::Lifecycle, c, None),
            Command::Get(c) => (Mode::Get, c, None),
            Command::List(c) => (Mode::List, c, None),
            Command::Create(c) => (Mode::Create, c, None),
            Command::Users(u) => (
                Mode::Users,
                u.common,
                Some((u.users, u.ramp_up, u.think_ms, u.weights)),
            ),
        };
        validate(mode, common, users)
    }
}

type UsersArgs = (Vec<usize>, f64, ThinkTime, Weights);

fn validate(mode: Mode, c: Common, users: Option<UsersArgs>) -> Result<Settings, String> {
    let mut names: Vec<&str> = c.targets.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("target name {:?} given twice", w[0]));
    }
    if !c.allow_remote {
        for t in &c.targets {
            t.check_loopback()?;
        }
    }
    for (name, _) in &c.server_pid {
        if !c.targets.iter().any(|t| &t.name == name) {
            return Err(format!(
                "--server-pid {name}=...: no target is named {name:?}"
            ));
        }
    }
    let stop = match (c.duration, c.count) {
        (_, Some(0)) => return Err("--count must be at least 1".into()),
        (_, Some(n)) => Stop::Count(n),
        (Some(d), None) if !(d > 0.0 && d <= 3600.0) => {
            return Err("--duration must be in (0, 3600] seconds".into());
        }
        (Some(d), None) => Stop::DurationS(d),
        (None, None) => Stop::DurationS(10.0),
    };
    if !(0.0..=600.0).contains(&c.warmup) {
        return Err("--warmup must be in [0, 600] seconds".into());
    }
    if !(c.timeout > 0.0 && c.timeout <= 600.0) {
        return Err("--timeout must be in (0, 600] seconds".into());
    }
    if c.threads == 0 || c.threads > 256 {
        return Err("--threads must be in [1, 256]".into());
    }
    let rounds = c.rounds.unwrap_or(if c.targets.len() > 1 { 3 } else { 1 });
    if rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    if let Stop::Count(n) = stop
        && n < u64::from(rounds)
    {
        return Err(format!("--count {n} is smaller than --rounds {rounds}"));
    }
    if (mode == Mode::Get || mode == Mode::Users) && c.seed == 0 {
        return Err(format!("{} mode needs --seed of at least 1", mode.name()));
    }
    let list_queries = list_queries(&c.targets, &c.list_query)?;

    let (counts, users) = match users {
        Some((counts, ramp_up, think, weights)) => {
            if c.concurrency.is_some() {
                return Err("users mode takes --users, not --concurrency".into());
            }
            if c.rate.is_some() {
                return Err(
                    "users mode is closed-loop by design (think time); --rate does not apply"
                        .into(),
                );
            }
            if !(0.0..=600.0).contains(&ramp_up) {
                return Err("--ramp-up must be in [0, 600] seconds".into());
            }
            if weights.total() == 0 {
                return Err("--weights: at least one weight must be positive".into());
            }
            (
                counts,
                Some(UsersSettings {
                    ramp_up_s: ramp_up,
                    think,
                    weights,
                }),
            )
        }
        None => (c.concurrency.unwrap_or_else(|| vec![32]), None),
    };
    if counts.is_empty() || counts.iter().any(|&n| n == 0 || n > 10_000) {
        return Err("concurrency / users must be in [1, 10000]".into());
    }
    let rates: Vec<Option<f64>> = match &c.rate {
        None => vec![None],
        Some(rates) => {
            if rates.is_empty() || rates.iter().any(|&r| !(r > 0.0 && r <= 1_000_000.0)) {
                return Err("--rate must be in (0, 1000000] requests/s".into());
            }
            rates.iter().map(|&r| Some(r)).collect()
        }
    };
    let levels = rates
        .iter()
        .flat_map(|&rate| {
            counts
                .iter()
                .map(move |&concurrency| Level { concurrency, rate })
        })
        .collect();

    Ok(Settings {
        mode,
        targets: c.targets,
        levels,
        stop,
        warmup_s: c.warmup,
        rounds,
        trailing_slash: c.trailing_slash,
        seed: c.seed,
        keep: c.keep,
        list_queries,
        server_pids: c.server_pid,
        out: c.out,
        json: c.json,
        quiet: c.quiet,
        threads: c.threads,
        timeout_s: c.timeout,
        allow_remote: c.allow_remote,
        users,
    })
}

fn parse_target(s: &str) -> Result<TargetSpec, String> {
    TargetSpec::parse(s)
}

/// Each target's list query: its own (`NAME=?QUERY`), else the one for all (`?QUERY`, the
/// `?` optional), else none.
fn list_queries(targets: &[TargetSpec], given: &[String]) -> Result<Vec<(String, String)>, String> {
    let normalised = |query: &str| {
        let mut query = query.trim().to_string();
        if !query.is_empty() && !query.starts_with('?') {
            query.insert(0, '?');
        }
        if query.chars().any(|ch| ch.is_whitespace() || ch == '#') {
            return Err(
                "--list-query must be a plain query string like '?page_size=50'".to_string(),
            );
        }
        Ok(query)
    };
    let mut shared = None;
    let mut own = Vec::new();
    for query in given {
        match query.split_once("=?") {
            Some((name, rest)) if targets.iter().any(|t| t.name == name) => {
                own.push((name.to_string(), normalised(&format!("?{rest}"))?));
            }
            _ if shared.is_some() => {
                return Err(
                    "--list-query: one for all targets, then NAME=?QUERY for others".into(),
                );
            }
            _ => shared = Some(normalised(query)?),
        }
    }
    let shared = shared.unwrap_or_default();
    Ok(targets
        .iter()
        .map(|t| {
            let query = own.iter().rev().find(|(name, _)| *name == t.name);
            (
                t.name.clone(),
                query.map_or(shared.clone(), |(_, q)| q.clone()),
            )
        })
        .collect())
}

fn parse_pid(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected NAME=PID")?;
    let pid = pid.trim().parse().map_err(|_| format!("bad pid {pid:?}"))?;
    if name.is_empty() {
        return Err("expected NAME=PID".into());
    }
    Ok((name.to_string(), pid))
}

fn parse_think(s: &str) -> Result<ThinkTime, String> {
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("bad milliseconds {v:?}"))
    };
    let (min_ms, max_ms) = match s.split_once("..") {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(s)?, num(s)?),
    };
    if min_ms > max_ms || max_ms > 600_000 {
        return Err("think time must be MIN..MAX with MIN <= MAX <= 600000 ms".into());
    }
    Ok(ThinkTime { min_ms, max_ms })
}

fn parse_weights(s: &str) -> Result<Weights, String> {
    // Tasks left out get weight 0, so "--weights retrieve=1" runs only retrieves.
    let mut w = Weights {
        list: 0,
        retrieve: 0,
        create: 0,
        update: 0,
        delete: 0,
    };
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or(format!("expected TASK=WEIGHT, got {part:?}"))?;
        let value: u32 = value
            .trim()
            .parse()
            .map_err(|_| format!("bad weight {value:?}"))?;
        let slot = match name.trim() {
            "list" => &mut w.list,
            "retrieve" | "get" | "read" => &mut w.retrieve,
            "create" => &mut w.create,
            "update" | "replace" => &mut w.update,
            "delete" => &mut w.delete,
            other => {
                return Err(format!(
                    "unknown task {other:?} (list, retrieve, create, update, delete)"
                ));
            }
        };
        *slot = value;
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, String> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.into_settings()
    }

    #[test]
    fn lifecycle_defaults() {
        let s = settings(&["lifecycle", "--target", "api=http://127.0.0.1:8000"]).unwrap();
        assert_eq!(s.mode, Mode::Lifecycle);
        assert_eq!(s.targets[0].name, "api");
        assert_eq!(
            s.levels,
            vec![Level {
                concurrency: 32,
                rate: None
            }]
        );
        assert_eq!(s.stop, Stop::DurationS(10.0));
        assert_eq!(s.rounds, 1);
        assert!(s.users.is_none());
    }

    #[test]
    fn gives_a_target_its_own_list_query() {
        let s = settings(&[
            "list",
            "-t",
            "small=http://127.0.0.1:1",
            "-t",
            "large=http://127.0.0.1:2",
            "--list-query",
            "?page_size=50",
            "--list-query",
            "large=?page_size=50&cursor=abc=",
        ])
        .unwrap();
        assert_eq!(s.list_query("small"), "?page_size=50");
        assert_eq!(s.list_query("large"), "?page_size=50&cursor=abc=");
        // A name that is no target's is part of a query for all; a second such is an error.
        let twice = settings(&[
            "list",
            "-t",
            "a=http://127.0.0.1:1",
            "--list-query",
            "?x=1",
            "--list-query",
            "b=?y=2",
        ]);
        assert!(twice.unwrap_err().contains("--list-query"));
        let spaced = settings(&[
            "list",
            "-t",
            "a=http://127.0.0.1:1",
            "--list-query",
            "a=?x 1",
        ]);
        assert!(spaced.unwrap_err().contains("plain query string"));
    }

    #[test]
    fn lists_rates_and_several_targets() {
        let s = settings(&[
            "get",
            "-t",
            "a=http://127.0.0.1:1",
            "-t",
            "http://localhost:2",
            "-c",
            "32,64",
            "--rate",
            "1000,2000",
            "--list-query",
            "page_size=5",
            "-n",
            "100",
        ])
        .unwrap();
        assert_eq!(s.targets[1].name, "localhost:2");
        assert_eq!(s.levels.len(), 4);
        assert_eq!(
            s.levels[1],
            Level {
                concurrency: 64,
                rate: Some(1000.0)
            }
        );
        assert_eq!(
            s.rounds, 3,
            "several targets interleave in 3 rounds by default"
        );
        assert_eq!(
            s.list_queries,
            [
                ("a".to_string(), "?page_size=5".to_string()),
                ("localhost:2".to_string(), "?page_size=5".to_string())
            ]
        );
        assert_eq!(s.stop, Stop::Count(100));
        // 100 over 3 rounds: 34, 33, 33
        assert_eq!(s.slice_stop(0), Stop::Count(34));
        assert_eq!(s.slice_stop(2), Stop::Count(33));
    }

    #[test]
    fn users_options() {
        let s = settings(&[
            "users",
            "-t",
            "x=http://[::1]:8000",
            "--users",
            "10,20",
            "--think-ms",
            "5..7",
            "--weights",
            "retrieve=3,delete=1",
        ])
        .unwrap();
        let u = s.users.unwrap();
        assert_eq!(
            u.think,
            ThinkTime {
                min_ms: 5,
                max_ms: 7
            }
        );
        assert_eq!(u.weights.retrieve, 3);
        assert_eq!(u.weights.list, 0);
        assert_eq!(s.levels[1].concurrency, 20);
        assert_eq!(s.levels[1].label(Mode::Users), "u20");
    }

    #[test]
    fn rejections() {
        let t = "a=http://127.0.0.1:1";
        for args in [
            &["get", "-t", "a=http://10.0.0.1:8000"][..],
            &["get", "-t", "a=http://example.com"],
            &["get", "-t", "a=https://127.0.0.1"],
            &["get", "-t", t, "-t", "a=http://127.0.0.1:2"],
            &["get", "-t", t, "-c", "0"],
            &["get", "-t", t, "--duration", "5", "--count", "5"],
            &["get", "-t", t, "--seed", "0"],
            &["get", "-t", t, "--rate", "-1"],
            &["get", "-t", t, "--server-pid", "b=12"],
            &["users", "-t", t, "--rate", "10"],
            &["users", "-t", t, "-c", "10"],
            &["users", "-t", t, "--think-ms", "9..2"],
            &["users", "-t", t, "--weights", "jump=1"],
            &["lifecycle"],
        ] {
            assert!(settings(args).is_err(), "accepted {args:?}");
        }
    }

    #[test]
    fn remote_allowed_on_request() {
        let s = settings(&["list", "-t", "far=http://192.0.2.1:80", "--allow-remote"]).unwrap();
        assert!(s.allow_remote);
    }
}
