//! A small Kinesis API client for the `shoal` subcommands that talk to a server (the
//! admin CLI, `put`, `tail`, `health`): the JSON protocol over one kept-alive HTTP/1.1
//! connection, every request SigV4-signed as the AWS SDKs sign it, so the commands work
//! against any Kinesis endpoint that speaks plain HTTP, not only Shoal.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::api::sigv4::{self, canonical::format_amz_date};

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
    region: String,
    credentials: Credentials,
    conn: Mutex<Option<SendRequest<Full<Bytes>>>>,
    /// The SigV4 signing key and the day (`YYYYMMDD`) it is for.
    signing_key: std::sync::Mutex<Option<(String, Vec<u8>)>>,
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
            region: region.to_string(),
            credentials,
            conn: Mutex::new(None),
            signing_key: std::sync::Mutex::new(None),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                ClientError::transport(format!(
                    "cannot connect to {}:{}: {e} (is the server running? set --endpoint or SHOAL_ENDPOINT)",
                    self.host, self.port
                ))
            })?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| ClientError::transport(format!("HTTP handshake failed: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    /// Sends one request, dialling (once more) if the kept-alive connection is gone.
    async fn send(
        &self,
        req: impl Fn() -> http::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), ClientError> {
        let mut guard = self.conn.lock().await;
        for attempt in 0..2 {
            let mut send = match guard.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await?,
            };
            if send.ready().await.is_err() {
                continue;
            }
            match send.send_request(req()).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| ClientError::transport(format!("reading the answer: {e}")))?
                        .to_bytes();
                    *guard = Some(send);
                    return Ok((status, body));
                }
                // A kept-alive connection the server closed: dial again, once.
                Err(e) if attempt == 0 && e.is_closed() => continue,
                Err(e) => return Err(ClientError::transport(format!("request failed: {e}"))),
            }
        }
        Err(ClientError::transport(format!(
            "{}:{} closed the connection",
            self.host, self.port
        )))
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
        let parts = self.signed_parts(op, body)?;
        self.send(|| request_of(&parts, body.body.clone())).await
    }

    /// Like `call_raw`, on a connection of its own, answering the response body as it
    /// streams (SubscribeToShard's events).
    pub async fn call_streaming(
        &self,
        op: &str,
        body: &Prepared,
    ) -> Result<(u16, hyper::body::Incoming), ClientError> {
        let parts = self.signed_parts(op, body)?;
        let mut send = self.connect().await?;
        send.ready()
            .await
            .map_err(|e| ClientError::transport(format!("connection not ready: {e}")))?;
        let resp = send
            .send_request(request_of(&parts, body.body.clone()))
            .await
            .map_err(|e| ClientError::transport(format!("request failed: {e}")))?;
        Ok((resp.status().as_u16(), resp.into_body()))
    }

    /// The request head for `op`, signed with SigV4 as the SDKs sign.
    fn signed_parts(&self, op: &str, body: &Prepared) -> Result<http::request::Parts, ClientError> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let amz_date = format_amz_date(secs);
        let mut builder = http::Request::post("/")
            .header("host", &self.authority)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-date", &amz_date)
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .header("x-amz-content-sha256", &body.sha256);
        let mut signed = vec![
            "content-type",
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-target",
        ];
        if let Some(t) = &self.credentials.session_token {
            builder = builder.header("x-amz-security-token", t);
            signed.push("x-amz-security-token");
        }
        let (mut parts, ()) = builder
            .body(())
            .map_err(|e| ClientError::transport(format!("cannot build the request: {e}")))?
            .into_parts();
        let auth = sigv4::authorization_with_key(
            &parts,
            &body.body,
            &self.credentials.access_key_id,
            &self.day_key(&amz_date[..8]),
            &self.region,
            &amz_date,
            &signed,
        );
        parts.headers.insert(
            http::header::AUTHORIZATION,
            auth.parse().map_err(|_| {
                ClientError::transport("the access key is not a valid header".into())
            })?,
        );
        Ok(parts)
    }

    /// The signing key for `day`, derived once per day rather than per request.
    fn day_key(&self, day: &str) -> Vec<u8> {
        let mut cached = self.signing_key.lock().unwrap_or_else(|p| p.into_inner());
        match &*cached {
            Some((d, key)) if d == day => key.clone(),
            _ => {
                let key = sigv4::canonical::signing_key(
                    &self.credentials.secret_access_key,
                    day,
                    &self.region,
                    sigv4::SERVICE,
                );
                *cached = Some((day.to_string(), key.clone()));
                key
            }
        }
    }

    /// A plain GET (`/health`): the status and body.
    pub async fn get(&self, path: &str) -> Result<(u16, String), ClientError> {
        let uri: http::Uri = path
            .parse()
            .map_err(|e| ClientError::transport(format!("bad path {path:?}: {e}")))?;
        let (status, body) = self
            .send(|| {
                let mut r = http::Request::new(Full::new(Bytes::new()));
                *r.uri_mut() = uri.clone();
                if let Ok(v) = self.authority.parse() {
                    r.headers_mut().insert(http::header::HOST, v);
                }
                r
            })
            .await?;
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

fn request_of(parts: &http::request::Parts, body: Bytes) -> http::Request<Full<Bytes>> {
    let mut r = http::Request::new(Full::new(body));
    *r.method_mut() = parts.method.clone();
    *r.uri_mut() = parts.uri.clone();
    *r.headers_mut() = parts.headers.clone();
    r
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
