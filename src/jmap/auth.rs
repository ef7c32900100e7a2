//! Device authentication: the only code that reads the `Authorization` header.
//!
//! A device presents its token as `Bearer <token>` or as the password of Basic auth with the
//! mailbox id as user name. Tokens are 32 random bytes shown once by `postbote device add`;
//! the store keeps only their SHA-256, and a lookup by hash needs no constant-time compare
//! (an attacker learns nothing about a token from how fast a hash of a guess is not found).
//! The IMAP password is never accepted here. The credential is always verified first: a valid
//! one is served whatever its address did before (behind a reverse proxy every phone shares
//! one address). A request without credentials gets 401 and `WWW-Authenticate` for both
//! schemes and counts against nobody; a wrong credential counts against the client's address
//! and against the credential itself (`crate::authlimit`), and over the limit gets 429 with
//! `Retry-After`, sent only after `Refused::delay` (the wait, at most 3 s), so guesses past
//! the limit cannot go on at full speed. The client's address is the TCP peer, or what `X-Forwarded-For` says when
//! the peer is one of `jmap.trusted_proxies`. A handler that needs a device takes [`Authed`]
//! as an argument.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::device;
pub use super::device::{Access, Authed};
use super::listen::PeerAddr;
use super::server::{Server, problem};
use crate::authlimit::{self, Key};
use crate::devices::{Presented, Protocol, Refused};

pub use crate::devices::{hash_token, new_token};

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

/// Why a request was not let in.
#[derive(Debug)]
pub enum AuthRejection {
    Unauthorized,
    TooManyFailures(Duration),
    Internal(String),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Unauthorized => {
                let mut r = problem(
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
            AuthRejection::TooManyFailures(wait) => {
                let mut r = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "about:blank",
                    "too many wrong credentials from this address or for this credential; try again later",
                    None,
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
                r
            }
            AuthRejection::Internal(m) => problem(StatusCode::INTERNAL_SERVER_ERROR, "about:blank", &m, None),
        }
    }
}

/// The client's address: the TCP peer, or behind a trusted proxy what `X-Forwarded-For` says.
fn client_ip(parts: &Parts, server: &Server) -> IpAddr {
    let peer = parts.extensions.get::<ConnectInfo<PeerAddr>>().map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.0.ip());
    // Read lossily: a proxy appends the real address to whatever the client sent, so one
    // non-UTF-8 byte from the client must spoil only its own entry, not the proxy's.
    let forwarded: Vec<String> = parts
        .headers
        .get_all("x-forwarded-for")
        .into_iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    authlimit::client_addr(peer, forwarded.iter().map(String::as_str), &server.app.config.jmap.trusted_proxies)
}

impl FromRequestParts<Server> for Authed {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, server: &Server) -> Result<Self, Self::Rejection> {
        let Some(presented) = parts.headers.get(header::AUTHORIZATION) else {
            // No credential at all: a client finding out which schemes we take. Counts against nobody.
            return Err(AuthRejection::Unauthorized);
        };
        let ip = client_ip(parts, server);
        let offered = offered(&parts.headers);
        let (token, user) = match offered {
            Some(Offered::Bearer(t)) => (t, None),
            Some(Offered::Basic { user, password }) => (password, Some(user)),
            None => {
                // Unreadable: counted against the address and what was presented, never verified.
                let credential = Key::credential(&format!("header:{}", String::from_utf8_lossy(presented.as_bytes())));
                return Err(match server.app.logins.wrong(ip, credential, Instant::now()) {
                    Refused::TooMany { retry_after } => {
                        tokio::time::sleep(Refused::TooMany { retry_after }.delay()).await;
                        AuthRejection::TooManyFailures(retry_after)
                    }
                    _ => AuthRejection::Unauthorized,
                });
            }
        };
        let (app, logins) = (server.app.clone(), server.app.logins.clone());
        let checked = server
            .blocking(move || {
                let presented = Presented { ip, user: user.as_deref(), token: &token, protocol: Protocol::Jmap };
                logins.check(&app.store, &app.config, presented, Instant::now())
            })
            .await
            .map_err(|e| AuthRejection::Internal(format!("authentication failed: {e}")))?;
        match checked {
            Ok(login) => {
                let accounts = device::accounts(&login.mailboxes);
                Ok(Authed { device: login.device, username: login.mailbox, accounts })
            }
            Err(Refused::Wrong) => {
                tracing::info!(%ip, "jmap: a wrong credential was presented");
                Err(AuthRejection::Unauthorized)
            }
            Err(Refused::TooMany { retry_after }) => {
                tracing::info!(%ip, wait_secs = retry_after.as_secs(), "jmap: too many wrong credentials");
                tokio::time::sleep(Refused::TooMany { retry_after }.delay()).await;
                Err(AuthRejection::TooManyFailures(retry_after))
            }
            Err(Refused::Store(e)) => {
                tracing::warn!(error = %e, "jmap: looking up a device token failed");
                Err(AuthRejection::Internal("authentication failed: the store is not available".into()))
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
}
