//! One HTTP/1.1 keep-alive connection per virtual client, straight on hyper's connection
//! API: no pool, no proxy or TLS layers, so a request costs the generator as little CPU as
//! possible (it shares the machine's cores with the server and its database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where one target's connections go.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub host: HeaderValue,
    pub timeout: Duration,
}

/// A completed exchange: status and the whole body.
pub type Reply = Result<(u16, Bytes), String>;

pub struct Conn {
    endpoint: Arc<Endpoint>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection opened now, so a measurement does not start with handshakes. If that
    /// fails, the first request tries again (and counts the failure as an error).
    pub async fn open(endpoint: Arc<Endpoint>) -> Conn {
        let mut conn = Conn {
            endpoint,
            sender: None,
        };
        conn.sender = conn.connect().await.ok();
        conn
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let ep = &self.endpoint;
        let dial = async {
            let stream = TcpStream::connect(ep.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", ep.addr))?;
            // Requests are small and sent whole: never let Nagle hold them back.
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            // Drives the socket; ends when the sender is dropped or the peer closes.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(sender)
        };
        tokio::time::timeout(ep.timeout, dial)
            .await
            .map_err(|_| format!("connect {}: timed out", ep.addr))?
    }

    /// Sends one request and reads the whole response. A connection that failed, timed out
    /// or was closed by the server is replaced before the next request (a server closing
    /// after each response, like gunicorn's sync workers, just costs a reconnect).
    pub async fn send(&mut self, method: Method, path: &str, json: Option<&Bytes>) -> Reply {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.endpoint.host.clone());
        if json.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let req = req
            .body(Full::new(json.cloned().unwrap_or_default()))
            .map_err(|e| format!("bad request {path}: {e}"))?;
        let exchange = async {
            sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let close = resp
                .headers()
                .get(CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body, close))
        };
        match tokio::time::timeout(self.endpoint.timeout, exchange).await {
            Ok(Ok((status, body, close))) => {
                if !close {
                    self.sender = Some(sender);
                }
                Ok((status, body))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("timed out after {:?}", self.endpoint.timeout)),
        }
    }
}
