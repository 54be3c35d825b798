//! Connection discipline for every listener (cleartext HTTP/1.1 and h2c, and TLS): a cap
//! on connections in total and per client address, a header-read timeout, a bound on
//! header bytes, HTTP/2 stream limits, and an idle timeout that winds down a connection
//! on which no request has made progress (`api::transport::Progress`): an idle
//! keep-alive, a client that only pings, a stalled upload, a reply nobody reads.
//! Without these a handful of slow clients hold the server's memory and sockets for as
//! long as they like.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::api::codec::Protocol;
use crate::api::error::ApiError;
use crate::api::transport::{client_key, Transport};
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
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    connections: Arc<Connections>,
    client: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut t = lock(&self.connections.table);
        t.total -= 1;
        if let Some(n) = t.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                t.by_client.remove(&self.client);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Connections {
    /// A place for a connection from `client`, or why there is none.
    fn admit(self: &Arc<Self>, client: IpAddr, limits: &ConnLimits) -> Result<Admitted, String> {
        let mut t = lock(&self.table);
        if t.total >= limits.max_connections {
            return Err(format!(
                "Shoal holds its limit of {} connections; retry later.",
                limits.max_connections
            ));
        }
        let mine = t.by_client.get(&client).copied().unwrap_or(0);
        if mine >= limits.max_connections_per_client {
            return Err(format!(
                "Too many connections from {client}: the limit is {} per client address.",
                limits.max_connections_per_client
            ));
        }
        t.by_client.insert(client, mine + 1);
        t.total += 1;
        Ok(Admitted {
            connections: self.clone(),
            client,
        })
    }
}

/// How long a connection wound down for idleness may take to finish what it was doing
/// (a GOAWAY read, a last reply) before it is dropped.
const DRAIN: Duration = Duration::from_secs(1);

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
    let builder = Arc::new(builder(&limits));
    // Every connection task holds a sender; once all are gone the listener is done.
    let (open_tx, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
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
        let client = client_key(peer.ip());
        let admitted = match table.admit(client, &limits) {
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
        let transport = Transport {
            client,
            tls: tls.is_some(),
            progress: Arc::default(),
        };
        let (tls, app, builder, limits) =
            (tls.clone(), app.clone(), builder.clone(), limits.clone());
        let (open, stop) = (open_tx.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let _place = admitted;
            let _open = open;
            let r = match tls {
                None => serve_one(tcp, app, transport, &builder, &limits, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp))
                        .await
                    {
                        Ok(Ok(s)) => serve_one(s, app, transport, &builder, &limits, stop).await,
                        Ok(Err(e)) => Err(e.into()),
                        Err(_) => Err("TLS handshake timed out".into()),
                    }
                }
            };
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    // Stop accepting, wind every connection down, and wait for them.
    let _receivers_may_be_gone = stop_tx.send(true);
    drop(open_tx);
    let _none_left = all_closed.recv().await;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves once the server stops (or its signal is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _dropped_sender_means_stop = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Serves one connection until it ends: the client closes it, it goes idle (then it is
/// wound down gracefully: a GOAWAY on HTTP/2, `Connection: close` on HTTP/1.1, and
/// dropped after [`DRAIN`]), or the server stops (wound down, then waited for).
async fn serve_one<I>(
    io: I,
    app: Router,
    transport: Transport,
    builder: &Builder<TokioExecutor>,
    limits: &ConnLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let progress = transport.progress.clone();
    progress.touch();
    let tower = TowerToHyperService::new(app.layer(axum::Extension(transport)));
    let on_request = progress.clone();
    let service = hyper::service::service_fn(move |req| {
        on_request.touch();
        hyper::service::Service::call(&tower, req)
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return r,
        () = progress.idle_for(limits.idle_timeout) => {
            conn.as_mut().graceful_shutdown();
            return match tokio::time::timeout(DRAIN, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => Ok(()),
            };
        }
        () = stopped(&mut stop) => conn.as_mut().graceful_shutdown(),
    }
    conn.await
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
    let e = ApiError::unavailable(why);
    let body = Protocol::Json.encode_error(&e);
    let mut reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\n\
         x-amzn-errortype: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        Protocol::Json.content_type(),
        e.code,
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(&body);
    let _best_effort = tcp.try_write(&reply);
}
