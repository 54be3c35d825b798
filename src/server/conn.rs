//! Connection discipline for every listener (cleartext HTTP/1.1 and h2c, and TLS): a cap
//! on connections in total and per client address, a header-read timeout, a bound on
//! header bytes, HTTP/2 stream limits, and an idle timeout that closes a connection on
//! which no byte has moved either way (an idle keep-alive, a stalled client, a reply
//! nobody reads). Without these a handful of slow clients hold the server's memory
//! and sockets for as long as they like.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::api::http::Peer;
use crate::config::ServerConfig;

/// The limits of [`serve`], from `[server]` in the configuration.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_streams_per_connection: u32,
}

impl ConnLimits {
    pub fn of(c: &ServerConfig) -> ConnLimits {
        ConnLimits {
            max_connections: c.max_connections,
            max_connections_per_client: c.max_connections_per_client,
            header_read_timeout: Duration::from_millis(c.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(c.idle_timeout_ms),
            max_header_bytes: c.max_header_bytes,
            max_streams_per_connection: c.max_streams_per_connection,
        }
    }
}

/// Open connections, in total and by client address, shared by every listener.
#[derive(Default)]
pub struct Connections {
    by_client: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    table: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut t = lock(&self.table.by_client);
        if let Some(n) = t.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.ip);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Connections {
    /// A place for a connection from `ip`, or why there is none.
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &ConnLimits) -> Result<Admitted, String> {
        let mut t = lock(&self.by_client);
        let total: usize = t.values().sum();
        if total >= limits.max_connections {
            return Err(format!(
                "Shoal holds its limit of {} connections; retry later.",
                limits.max_connections
            ));
        }
        let mine = t.entry(ip).or_insert(0);
        if *mine >= limits.max_connections_per_client {
            return Err(format!(
                "Too many connections from {ip}: the limit is {} per client address.",
                limits.max_connections_per_client
            ));
        }
        *mine += 1;
        Ok(Admitted {
            table: self.clone(),
            ip,
        })
    }

    /// Open connections now (for tests and metrics).
    pub fn open(&self) -> usize {
        lock(&self.by_client).values().sum()
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is set) until `shutdown` resolves,
/// then lets open connections finish. HTTP/1.1 and HTTP/2 are told apart by ALPN on
/// TLS, or by the HTTP/2 preface (h2c, and Java clients that negotiate nothing).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnLimits,
    table: Arc<Connections>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(builder(&limits));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of file descriptors: let some close rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let admitted = match table.admit(peer.ip(), &limits) {
            Ok(a) => a,
            Err(why) => {
                refuse(&tcp, tls.is_none(), &why);
                continue;
            }
        };
        // Small responses and event frames go out at once rather than waiting on
        // Nagle's algorithm for the peer's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        let (tls, app, builder, limits) =
            (tls.clone(), app.clone(), builder.clone(), limits.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _place = admitted;
            let activity = Arc::new(Activity::new());
            let tcp = Watched {
                inner: tcp,
                activity: activity.clone(),
            };
            let service = TowerToHyperService::new(app.layer(axum::Extension(Peer(peer.ip()))));
            let served = async {
                match tls {
                    None => {
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                        watcher.watch(conn.into_owned()).await
                    }
                    Some(acceptor) => {
                        let stream = match tokio::time::timeout(
                            limits.header_read_timeout,
                            acceptor.accept(tcp),
                        )
                        .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => return Err(e.into()),
                            Err(_) => return Err("TLS handshake timed out".into()),
                        };
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        watcher.watch(conn.into_owned()).await
                    }
                }
            };
            tokio::select! {
                r = served => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                _ = activity.idle_for(limits.idle_timeout) => {
                    tracing::debug!(%peer, "closing a connection idle for {:?}", limits.idle_timeout);
                }
            }
        });
    }
    graceful.shutdown().await;
}

fn builder(limits: &ConnLimits) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        // A malformed header line is dropped rather than answered with hyper's bare
        // 400, so the request still gets an AWS-shaped answer.
        .ignore_invalid_headers(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection)
        .max_header_list_size(limits.max_header_bytes.min(u32::MAX as usize) as u32);
    b
}

/// Answers a connection over the limits and closes it. On the cleartext port an
/// HTTP/1.1 503 in AWS's shape goes out first (one non-blocking write into an empty
/// socket buffer); a TLS client just sees the connection close.
fn refuse(tcp: &TcpStream, plain: bool, why: &str) {
    tracing::debug!("refusing a connection: {why}");
    if !plain {
        return;
    }
    let body =
        serde_json::json!({"__type": "ServiceUnavailableException", "message": why}).to_string();
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amzn-errortype: ServiceUnavailableException\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _best_effort = tcp.try_write(reply.as_bytes());
}

/// When a byte last moved on a connection, in milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `idle` (never, for a zero `idle`).
    async fn idle_for(&self, idle: Duration) {
        if idle.is_zero() {
            return std::future::pending().await;
        }
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let quiet = self.opened.elapsed().saturating_sub(last);
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    }
}

/// A socket that records each read and write that moved bytes.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
