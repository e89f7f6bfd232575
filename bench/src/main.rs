//! `bench`: load generator for services speaking the /items/ CRUD contract, reproducing the
//! original comparison's method (see `bench --help`).

mod cli;
mod client;
mod report;
mod rss;
mod runner;
mod stats;
mod svg;
mod target;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

use crate::report::Report;

fn main() -> ExitCode {
    let settings = match cli::Cli::parse().into_settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = chrono::Local::now();
    let interrupted = Arc::new(AtomicBool::new(false));
    let outcome = runtime.block_on(async {
        let flag = interrupted.clone();
        let quiet = settings.quiet;
        // First Ctrl-C: stop measuring, still clean up and report. Second: leave now.
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if flag.swap(true, Ordering::Relaxed) {
                    std::process::exit(130);
                }
                if !quiet {
                    eprintln!("bench: interrupted; cleaning up (Ctrl-C again to quit at once)");
                }
            }
        });
        runner::run(&settings, interrupted.clone()).await
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };

    let dir = settings.out.clone().unwrap_or_else(|| {
        PathBuf::from("target/bench").join(started.format("%Y%m%d-%H%M%S").to_string())
    });
    let mut settings = settings;
    settings.out = Some(dir.clone());
    let report = Report {
        tool: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        started_at: started.to_rfc3339(),
        finished_at: chrono::Local::now().to_rfc3339(),
        interrupted: interrupted.load(Ordering::Relaxed),
        settings: settings.clone(),
        results: outcome.rows,
        cleanup: outcome.cleanup,
    };
    let markdown = report.markdown();
    let json = report.json();
    if settings.json {
        print!("{json}");
    } else {
        print!("{markdown}");
    }
    match write_files(&dir, &markdown, &json, &svg::render(&report)) {
        Ok(()) => {
            let msg = format!(
                "\nwrote results.md, results.json and chart.svg to {}",
                dir.display()
            );
            if settings.json {
                eprintln!("{msg}")
            } else {
                println!("{msg}")
            }
        }
        Err(e) => {
            eprintln!("bench: cannot write results to {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

fn write_files(dir: &Path, markdown: &str, json: &str, svg: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("results.md"), markdown)?;
    std::fs::write(dir.join("results.json"), json)?;
    std::fs::write(dir.join("chart.svg"), svg)
}
