//! Device authentication: the only code that reads the `Authorization` header.
//!
//! A device presents its token as `Bearer <token>` or as the password of Basic auth with the
//! mailbox id as user name. Tokens are 32 random bytes shown once by `postbote device add`;
//! the store keeps only their SHA-256, and a lookup by hash needs no constant-time compare
//! (an attacker learns nothing about a token from how fast a hash of a guess is not found).
//! The IMAP password is never accepted here. Failures are answered with 401 and
//! `WWW-Authenticate` for both schemes; each failure raises a per-address counter that decays
//! over time, and an address with too many recent failures gets 429 without its credentials
//! even being looked at. A handler that needs a device takes [`Authed`] as an argument.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::Server;
use super::ids;

/// A JMAP account a device may use: its own mailbox or a shared one it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub account_id: String,
    pub mailbox: String,
    pub personal: bool,
}

/// An authenticated device and the accounts it may see (and nothing else).
#[derive(Debug, Clone)]
pub struct Authed {
    pub device: i64,
    /// The device's own mailbox id (the Basic user name, the session's `username`).
    pub username: String,
    pub accounts: Vec<Access>,
}

impl Authed {
    /// The mailbox behind a JMAP account id, if this device may use it.
    pub fn mailbox(&self, account_id: &str) -> Option<&str> {
        self.accounts.iter().find(|a| a.account_id == account_id).map(|a| a.mailbox.as_str())
    }
}

/// A fresh token (base64url of 32 random bytes) and its hash as stored.
pub fn new_token() -> (String, String) {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What the `Authorization` header offered.
#[derive(Debug, PartialEq, Eq)]
enum Offered {
    Bearer(String),
    Basic { user: String, password: String },
}

/// Read the `Authorization` header (the one place that does).
fn offered(headers: &HeaderMap) -> Option<Offered> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Offered::Bearer(rest.to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (user, password) = s.split_once(':')?;
        return Some(Offered::Basic { user: user.to_string(), password: password.to_string() });
    }
    None
}

/// Failed attempts per client address, decaying: the score halves every `HALF_LIFE_SECS`.
#[derive(Default)]
pub struct FailureLimiter {
    scores: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

const HALF_LIFE_SECS: f64 = 60.0;
/// At this score an address gets 429 until it has decayed below it again.
const BLOCK_AT: f64 = 10.0;

impl FailureLimiter {
    fn current(entry: &(f64, Instant)) -> f64 {
        entry.0 * 0.5f64.powf(entry.1.elapsed().as_secs_f64() / HALF_LIFE_SECS)
    }

    /// The address's decayed score.
    pub fn score(&self, ip: IpAddr) -> f64 {
        self.scores.lock().unwrap_or_else(|p| p.into_inner()).get(&ip).map_or(0.0, Self::current)
    }

    pub fn blocked(&self, ip: IpAddr) -> bool {
        self.score(ip) >= BLOCK_AT
    }

    /// Count a failure; returns the new score.
    pub fn fail(&self, ip: IpAddr) -> f64 {
        let mut m = self.scores.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, e| Self::current(e) > 0.1);
        }
        let e = m.entry(ip).or_insert((0.0, Instant::now()));
        let s = Self::current(e) + 1.0;
        *e = (s, Instant::now());
        s
    }
}

/// Why a request was not let in.
#[derive(Debug)]
pub enum AuthRejection {
    Unauthorized,
    TooManyFailures,
    Internal(String),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Unauthorized => {
                let mut r = super::api::problem(
                    StatusCode::UNAUTHORIZED,
                    "about:blank",
                    "a valid device token is required (Bearer, or Basic with the mailbox id as user name)",
                    None,
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"postbote\", Basic realm=\"postbote\""),
                );
                r
            }
            AuthRejection::TooManyFailures => {
                let mut r = super::api::problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "about:blank",
                    "too many failed logins from this address; try again later",
                    None,
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
                r
            }
            AuthRejection::Internal(m) => {
                super::api::problem(StatusCode::INTERNAL_SERVER_ERROR, "about:blank", &m, None)
            }
        }
    }
}

impl FromRequestParts<Server> for Authed {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, server: &Server) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<super::PeerAddr>>()
            .map(|c| c.0.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        if server.failures.blocked(ip) {
            return Err(AuthRejection::TooManyFailures);
        }
        let offered = offered(&parts.headers);
        let store = server.app.store.clone();
        let config = server.app.config.clone();
        let found = server
            .blocking(move || -> Result<Option<Authed>, String> {
                let (token, user) = match offered {
                    Some(Offered::Bearer(t)) => (t, None),
                    Some(Offered::Basic { user, password }) => (password, Some(user)),
                    None => return Ok(None),
                };
                if token.is_empty() || token.len() > 200 {
                    return Ok(None);
                }
                let Some(dev) = store.device_by_token(&hash_token(&token)).map_err(|e| e.to_string())? else {
                    return Ok(None);
                };
                if user.as_ref().is_some_and(|u| *u != dev.mailbox) {
                    return Ok(None);
                }
                // Accounts: the device's mailbox, then its grants, as far as the config still has them.
                let mut accounts = Vec::new();
                for (mb, personal) in
                    std::iter::once((dev.mailbox.clone(), true)).chain(dev.grants.iter().map(|g| (g.clone(), false)))
                {
                    if config.mailbox(&mb).is_some() && !accounts.iter().any(|a: &Access| a.mailbox == mb) {
                        accounts.push(Access { account_id: ids::account(&mb), mailbox: mb, personal });
                    }
                }
                if accounts.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Authed { device: dev.id, username: dev.mailbox, accounts }))
            })
            .await
            .map_err(|e| AuthRejection::Internal(format!("authentication failed: {e}")))?
            .map_err(AuthRejection::Internal)?;
        match found {
            Some(a) => Ok(a),
            None => {
                let score = server.failures.fail(ip);
                // Slow repeated guessing down before answering (bounded; never a lock-out of
                // the device itself, whose own requests carry a valid token).
                let delay = std::time::Duration::from_millis((score * 100.0).min(2000.0) as u64);
                tokio::time::sleep(delay).await;
                tracing::info!(%ip, score = format!("{score:.1}"), "jmap: authentication failed");
                Err(AuthRejection::Unauthorized)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_forms() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            offered(&m)
        };
        assert_eq!(h("Bearer abc"), Some(Offered::Bearer("abc".into())));
        assert_eq!(h("bearer  abc "), Some(Offered::Bearer("abc".into())));
        let basic = base64::engine::general_purpose::STANDARD.encode("becker:tok:en");
        assert_eq!(
            h(&format!("Basic {basic}")),
            Some(Offered::Basic { user: "becker".into(), password: "tok:en".into() })
        );
        assert_eq!(h("Basic !!!"), None);
        assert_eq!(h("Digest x"), None);
        assert_eq!(offered(&HeaderMap::new()), None);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(ha, hash_token(&a));
        assert_ne!(ha, a);
    }

    #[test]
    fn failures_block_then_decay() {
        let l = FailureLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..8 {
            l.fail(ip);
        }
        assert!(!l.blocked(ip));
        l.fail(ip);
        l.fail(ip);
        l.fail(ip);
        assert!(l.blocked(ip));
        // Pretend the last failure was five half-lives ago.
        l.scores.lock().unwrap().get_mut(&ip).unwrap().1 = Instant::now() - std::time::Duration::from_secs(300);
        assert!(!l.blocked(ip));
        assert!(!l.blocked("192.0.2.2".parse().unwrap()));
    }
}
