//! A TCP proxy the test controls, between the app and PostgreSQL: it can cut every
//! connection (an outage), restore service, delay traffic (slow queries), or swallow it while
//! keeping connections open (a stalled network path: what was sent is lost).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    swallow: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Proxy {
    /// Listens on a free port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let swallow = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let proxy = Proxy {
            port,
            up: up.clone(),
            delay_ms: delay_ms.clone(),
            swallow: swallow.clone(),
            generation: generation.clone(),
        };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let cut = generation.subscribe();
                let (upstream, delay_ms, swallow) =
                    (upstream.clone(), delay_ms.clone(), swallow.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        pipe(client, server, cut, delay_ms, swallow).await;
                    }
                });
            }
        });
        proxy
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Drops the traffic of open connections (both ways) instead of forwarding it, or stops.
    pub fn set_swallow(&self, swallow: bool) {
        self.swallow.store(swallow, Ordering::SeqCst);
    }

    /// Holds every chunk of traffic for `delay` before forwarding it.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    mut cut: watch::Receiver<u64>,
    delay_ms: Arc<AtomicU64>,
    swallow: Arc<AtomicBool>,
) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let forward = copy(client_read, server_write, delay_ms.clone(), swallow.clone());
    let backward = copy(server_read, client_write, delay_ms, swallow);
    tokio::select! {
        _ = forward => {}
        _ = backward => {}
        _ = cut.changed() => {}
    }
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_ms: Arc<AtomicU64>,
    swallow: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if swallow.load(Ordering::SeqCst) {
            continue;
        }
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
