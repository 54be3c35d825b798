//! The gate in front of the console, its JSON views and `/metrics`: with credentials
//! configured they answer only HTTP Basic logins made of a configured access key (user
//! name) and its secret (password), and show that key's account alone. Browsers and
//! Prometheus both speak Basic; a browser cannot sign SigV4. Since the password is a
//! signing secret, a login in clear text is taken only from this machine (loopback)
//! unless `auth.basic_login_over_cleartext` says otherwise: elsewhere, use the TLS port.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, StatusCode};

use sha2::{Digest, Sha256};

use super::auth::Authenticator;
use super::http::ApiState;
use super::transport::Transport;

/// Whose view a console or metrics request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// No credentials configured: everything, as before credentials existed.
    Everyone,
    /// A logged-in key: its account's streams only.
    Account(String),
}

/// What a browser shows for a login refused because it is not over TLS.
const CLEARTEXT_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Shoal: use TLS</title>\
<h1>Log in over TLS</h1>\
<p>The console and <code>/metrics</code> log in with an access key's secret, so this \
server takes such logins in clear text only from its own machine. Use its TLS port \
(<code>--tls-port</code>), or set <code>auth.basic_login_over_cleartext = true</code> \
where the network is trusted.</p>";

impl Viewer {
    pub fn sees(&self, account: &str) -> bool {
        match self {
            Viewer::Everyone => true,
            Viewer::Account(a) => a == account,
        }
    }
}

/// What a browser shows when the login is cancelled or wrong.
const LOGIN_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Shoal: log in</title>\
<h1>Log in to the Shoal console</h1>\
<p>This server verifies credentials. Log in with one of its access keys: the access key \
id as the user name and the secret access key as the password. You see that key's \
account only.</p>\
<p>For <code>/metrics</code>, give Prometheus the same pair as <code>basic_auth</code>. \
Serve Shoal over TLS (<code>--tls-port</code>) on a shared network, since Basic \
credentials travel as written.</p>";

/// What [`log_in`] makes of a request.
pub enum Login {
    Viewer(Viewer),
    /// No login, or a wrong one: 401 with a challenge.
    Challenge,
    /// A login that came in clear text from another machine: 403.
    Cleartext,
}

impl Authenticator {
    /// The viewer a request's `Authorization: Basic` header logs in as; `None` when it
    /// names no configured key or the wrong secret.
    pub fn viewer(&self, headers: &http::HeaderMap) -> Option<Viewer> {
        if !self.verifies() {
            return Some(Viewer::Everyone);
        }
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let key = self.keys.get(id);
        // Compared as digests, and against a stand-in for an unknown key, so the time
        // taken tells neither a secret's length nor where it differs.
        let expected = key.map_or("", |k| k.secret.as_str());
        let same = same_bytes(&Sha256::digest(expected), &Sha256::digest(secret));
        let key = key?;
        same.then(|| Viewer::Account(key.account.clone()))
    }
}

/// Whether a request may log in, and as whom.
pub fn log_in(auth: &Authenticator, headers: &http::HeaderMap, via: Option<&Transport>) -> Login {
    if !auth.verifies() {
        return Login::Viewer(Viewer::Everyone);
    }
    let cleartext_from_afar = via.is_some_and(|t| !t.tls && !t.client.is_loopback());
    if cleartext_from_afar && !auth.basic_login_over_cleartext {
        return Login::Cleartext;
    }
    match auth.viewer(headers) {
        Some(v) => Login::Viewer(v),
        None => Login::Challenge,
    }
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: lets a request through with its [`Viewer`] as an extension, or answers
/// 401 with a Basic challenge and a page saying how to log in (403 for a login from
/// another machine in clear text).
pub async fn gate(State(state): State<Arc<ApiState>>, mut req: Request, next: Next) -> Response {
    let via = req.extensions().get::<Transport>().cloned();
    match log_in(&state.config.auth, req.headers(), via.as_ref()) {
        Login::Viewer(viewer) => {
            req.extensions_mut().insert(viewer);
            next.run(req).await
        }
        Login::Challenge => challenge(),
        Login::Cleartext => cleartext(),
    }
}

/// The 403 for a login that would cross the network in clear text.
pub fn cleartext() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        CLEARTEXT_PAGE,
    )
        .into_response()
}

/// The 401 that asks for a login.
pub fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (
                header::WWW_AUTHENTICATE,
                "Basic realm=\"Shoal\", charset=\"UTF-8\"",
            ),
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        ],
        LOGIN_PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(user_pass));
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn a_key_and_its_secret_log_in_to_its_account() {
        let open = Authenticator::accept_any("000000000000");
        assert_eq!(open.viewer(&http::HeaderMap::new()), Some(Viewer::Everyone));
        let mut a = Authenticator::accept_any("000000000000");
        a.keys.insert("AKID", "s3cret:x", "111111111111");
        assert_eq!(
            a.viewer(&basic("AKID:s3cret:x")),
            Some(Viewer::Account("111111111111".into()))
        );
        for wrong in ["AKID:s3cret", "AKID:s3cret:y", "OTHER:s3cret:x", "AKID"] {
            assert_eq!(a.viewer(&basic(wrong)), None, "{wrong}");
        }
        assert_eq!(a.viewer(&http::HeaderMap::new()), None);
        // The secret crosses the network in clear text only from this machine.
        let via = |ip: &str, tls: bool| Transport {
            client: ip.parse().unwrap(),
            tls,
            progress: Default::default(),
        };
        let login = basic("AKID:s3cret:x");
        let from = |a: &Authenticator, ip: &str, tls: bool| log_in(a, &login, Some(&via(ip, tls)));
        assert!(matches!(from(&a, "10.0.0.7", false), Login::Cleartext));
        assert!(matches!(from(&a, "10.0.0.7", true), Login::Viewer(_)));
        assert!(matches!(from(&a, "127.0.0.1", false), Login::Viewer(_)));
        assert!(matches!(from(&a, "::1", false), Login::Viewer(_)));
        a.basic_login_over_cleartext = true;
        assert!(matches!(from(&a, "10.0.0.7", false), Login::Viewer(_)));
        assert!(Viewer::Account("1".into()).sees("1"));
        assert!(!Viewer::Account("1".into()).sees("2"));
    }
}
