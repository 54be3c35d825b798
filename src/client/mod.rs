//! A small Kinesis API client for the `shoal` subcommands that talk to a server (the
//! admin CLI, `put`, `tail`, `health`): the JSON protocol over one kept-alive HTTP/1.1
//! connection, every request SigV4-signed as the AWS SDKs sign it, so the commands work
//! against any Kinesis endpoint that speaks plain HTTP, not only Shoal.

mod sign;
mod wire;

use std::io::Write;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use self::sign::{SignedHead, Signer};
use self::wire::{Conn, Failure};
use crate::api::sigv4;

/// The key requests are signed with; without one in the environment, a placeholder
/// (Shoal accepts any key unless it verifies credentials).
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` when set.
    pub fn from_env() -> Credentials {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: var("AWS_SESSION_TOKEN"),
            },
            _ => Credentials {
                access_key_id: "AKIDSHOALCLI".into(),
                secret_access_key: "shoal".into(),
                session_token: None,
            },
        }
    }
}

/// What a call can fail with: the service's error code and message, or a transport
/// failure (code `ConnectionError`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientError {
    pub code: String,
    pub message: String,
    pub status: u16,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ClientError {
    fn transport(message: String) -> ClientError {
        ClientError {
            code: "ConnectionError".into(),
            message,
            status: 0,
        }
    }

    /// Errors worth retrying after a pause: throttling and a server still starting.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code.as_str(),
            "ProvisionedThroughputExceededException"
                | "LimitExceededException"
                | "ThrottlingException"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
        )
    }
}

/// One endpoint, region and key, over one connection (re-dialled when it drops).
pub struct Client {
    host: String,
    port: u16,
    authority: String,
    signer: Signer,
    conn: Mutex<Option<Conn>>,
}

impl Client {
    /// `endpoint` is `http://host[:port]` (port 80 when left out).
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<Client, String> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("endpoint {endpoint:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "endpoint {endpoint}: the shoal client commands speak plain HTTP only; \
                     use the server's http port"
                ))
            }
            _ => return Err(format!("endpoint {endpoint:?} must start with http://")),
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("endpoint {endpoint:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(80);
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        Ok(Client {
            host,
            port,
            authority,
            signer: Signer::new(credentials, region),
            conn: Mutex::new(None),
        })
    }

    async fn dial(&self) -> Result<TcpStream, ClientError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                ClientError::transport(format!(
                    "cannot connect to {}:{}: {e} (is the server running? set --endpoint or SHOAL_ENDPOINT)",
                    self.host, self.port
                ))
            })?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// Sends one request on the kept-alive connection, dialling once more if the server
    /// had closed it before answering.
    async fn exchange(&self, head: &[u8], body: &[u8]) -> Result<(u16, Bytes), ClientError> {
        let mut guard = self.conn.lock().await;
        let mut reused = guard.is_some();
        loop {
            let mut conn = match guard.take() {
                Some(c) => c,
                None => Conn::new(self.dial().await?),
            };
            match conn.exchange(head, body).await {
                Ok(answer) => {
                    if answer.reusable {
                        *guard = Some(conn);
                    }
                    return Ok((answer.status, answer.body));
                }
                Err(Failure::Unanswered(_)) if reused => reused = false,
                Err(e) => return Err(ClientError::transport(format!("request failed: {e}"))),
            }
        }
    }

    /// Calls operation `op` (e.g. `"ListStreams"`) with a JSON input.
    pub async fn call(&self, op: &str, input: &Value) -> Result<Value, ClientError> {
        let body = Prepared::new(serde_json::to_vec(input).expect("a JSON value serializes"));
        let (status, body) = self.call_raw(op, &body).await?;
        let value: Value = if body.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&body).map_err(|e| ClientError {
                code: "InvalidResponse".into(),
                message: format!("HTTP {status}, body is not JSON: {e}"),
                status,
            })?
        };
        if status == 200 {
            Ok(value)
        } else {
            Err(error_of(status, &value))
        }
    }

    /// Sends a prepared JSON body for `op`; the status and the raw answer. Errors are
    /// only transport failures: the caller reads the status (see [`error_from_body`]).
    pub async fn call_raw(&self, op: &str, body: &Prepared) -> Result<(u16, Bytes), ClientError> {
        let signed = self.sign(op, body);
        let mut head = Vec::with_capacity(640);
        head.extend_from_slice(b"POST / HTTP/1.1\r\n");
        for (name, value) in signed.headers() {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        let _ = write!(head, "content-length: {}\r\n\r\n", body.body.len());
        self.exchange(&head, &body.body).await
    }

    /// Like `call_raw`, on a connection of its own, answering the response body as it
    /// streams (SubscribeToShard's events).
    pub async fn call_streaming(
        &self,
        op: &str,
        body: &Prepared,
    ) -> Result<(u16, hyper::body::Incoming), ClientError> {
        let signed = self.sign(op, body);
        let mut req = http::Request::post("/");
        for (name, value) in signed.headers() {
            req = req.header(name, value);
        }
        let req = req
            .body(Full::new(body.body.clone()))
            .map_err(|e| ClientError::transport(format!("cannot build the request: {e}")))?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(self.dial().await?))
                .await
                .map_err(|e| ClientError::transport(format!("HTTP handshake failed: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| ClientError::transport(format!("request failed: {e}")))?;
        Ok((resp.status().as_u16(), resp.into_body()))
    }

    /// The headers of a request for `op`, signed now.
    fn sign<'a>(&'a self, op: &str, body: &'a Prepared) -> SignedHead<'a> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.signer.sign(&self.authority, op, body, secs)
    }

    /// A plain GET (`/health`): the status and body.
    pub async fn get(&self, path: &str) -> Result<(u16, String), ClientError> {
        let uri: http::Uri = path
            .parse()
            .map_err(|e| ClientError::transport(format!("bad path {path:?}: {e}")))?;
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let head = format!("GET {target} HTTP/1.1\r\nhost: {}\r\n\r\n", self.authority);
        let (status, body) = self.exchange(head.as_bytes(), b"").await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// A request body and its SHA-256, hashed once however often it is sent (the load
/// generator resends the same bodies; the signature over them is still computed per
/// request).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Bytes,
    pub sha256: String,
}

impl Prepared {
    pub fn new(body: Vec<u8>) -> Prepared {
        let sha256 = sigv4::canonical::sha256_hex(&body);
        Prepared {
            body: Bytes::from(body),
            sha256,
        }
    }
}

/// The service error a non-200 JSON answer carries.
pub fn error_from_body(status: u16, body: &[u8]) -> ClientError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    error_of(status, &value)
}

fn error_of(status: u16, value: &Value) -> ClientError {
    let code = value["__type"]
        .as_str()
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let message = value["message"]
        .as_str()
        .or(value["Message"].as_str())
        .unwrap_or("")
        .to_string();
    ClientError {
        code,
        message,
        status,
    }
}
