//! The api binary itself, as operators run it: for signals (SIGTERM, SIGKILL) and restarts.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary with `config/test.toml`, on `port`, against `database_url`, two
/// workers, migrations applied, plus `env`; its standard output is discarded.
pub fn start(database_url: &str, port: u16, env: &[(&str, &str)]) -> Child {
    start_with_output(database_url, port, env, Stdio::null())
}

/// The same, with standard output (the logs) going to `stdout`.
pub fn start_with_output(
    database_url: &str,
    port: u16,
    env: &[(&str, &str)],
    stdout: Stdio,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .env(
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .env("APP_ENV", "test")
        .env("APP__SERVER__PORT", port.to_string())
        .env("APP__SERVER__WORKERS", "2")
        .env("APP__DATABASE__AUTO_MIGRATE", "true")
        .env("DATABASE_URL", database_url)
        .stdout(stdout);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Waits (at most 20 s) until `/health/ready` answers 200.
pub async fn wait_ready(client: &reqwest::Client, url: &str) {
    let started = Instant::now();
    while client
        .get(format!("{url}/health/ready"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
