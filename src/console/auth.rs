//! Who is looking: console accounts, their passwords and login sessions.
//!
//! Passwords are Argon2id hashes (PHC strings, `argon2` crate defaults) and are verified off
//! the async threads, at most [`super::ARGON2_AT_ONCE`] at a time. The login is limited with
//! `crate::authlimit`: a client address over the limit waits (429) before any password is
//! checked; the account name never blocks, so the right password from any other address gets
//! in at once. A wrong password counts against the address and the account name. An unknown name costs as much as a known one (a dummy hash is
//! verified), so the timing does not tell which accounts exist.
//!
//! A session is a random cookie value (`HttpOnly`, `SameSite=Strict`; over TLS `Secure` and
//! named `__Host-postbote_session`, `postbote_session` on plain loopback); the store keeps
//! its SHA-256 with an idle and an absolute end (`console.session_idle`,
//! `console.session_max`). [`Viewer`] is the extractor of a handler
//! that needs a logged-in account: without one it redirects to the login page.

use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::Web;
use super::guard::{csrf_token, tokens_match};
use super::i18n::Lang;
use crate::store::console::{ConsoleUser, Role};

/// The session cookie's name on plain loopback.
pub const SESSION_COOKIE: &str = "postbote_session";
/// The session cookie's name over TLS: the `__Host-` prefix makes a browser accept it only
/// with `Secure`, `Path=/` and no `Domain`, so no other host (a sibling subdomain) can set it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-postbote_session";

/// The session cookie's name for a console served with TLS (`secure`) or without.
pub fn session_cookie(secure: bool) -> &'static str {
    if secure { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}
/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "postbote_login";
/// A visit is written to the store at most this often per session (and at least four times
/// within the idle limit, so a busy session never looks idle).
const TOUCH_SECS: i64 = 60;

/// Hash a new password (Argon2id, random salt).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash verified for unknown account names, so they take as long as known ones.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("postbote: no such account").unwrap_or_default())
}

/// Check a name and password. Blocking (Argon2 and the store): call it off the async threads.
pub fn check_password(store: &crate::store::Store, name: &str, password: &str) -> Option<ConsoleUser> {
    match store.console().user(name.trim()).ok().flatten() {
        Some(u) if verify_password(password, &u.password_hash) => Some(u),
        Some(_) => None,
        None => {
            verify_password(password, dummy_hash());
            None
        }
    }
}

/// A fresh session cookie value and the hash the store keeps.
pub fn new_session() -> (String, String) {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = session_hash(&value);
    (value, hash)
}

pub fn session_hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A cookie from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, path `/`, `Secure` over TLS.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The language of a request (cookie, then `Accept-Language`).
pub fn lang_of(headers: &HeaderMap) -> Lang {
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Lang::choose(cookie(headers, "lang").as_deref(), accept)
}

/// A logged-in account, with its language and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: ConsoleUser,
    pub lang: Lang,
    pub csrf: String,
    pub session_hash: String,
}

impl Viewer {
    pub fn is_office(&self) -> bool {
        self.user.role == Role::Office
    }

    /// Whether this account may act for `mailbox`: office accounts for every one, an
    /// employee only for their own.
    pub fn may_see(&self, mailbox: &str) -> bool {
        self.is_office() || self.user.mailbox.as_deref() == Some(mailbox)
    }

    /// The mailboxes this account sees, in config order.
    pub fn mailboxes<'c>(&self, config: &'c crate::config::Config) -> Vec<&'c crate::config::Mailbox> {
        config.mailboxes.iter().filter(|m| self.may_see(&m.id)).collect()
    }

    /// Refuse (403) unless this is an office account.
    pub fn office(&self) -> Result<(), Response> {
        if self.is_office() { Ok(()) } else { Err(forbidden(self.lang)) }
    }

    /// Refuse (403) unless this account may act for `mailbox`.
    pub fn mailbox(&self, mailbox: &str) -> Result<(), Response> {
        if self.may_see(mailbox) { Ok(()) } else { Err(forbidden(self.lang)) }
    }

    /// Refuse (403) a form whose CSRF token is not this session's.
    pub fn csrf(&self, presented: &str) -> Result<(), Response> {
        if tokens_match(&self.csrf, presented) {
            Ok(())
        } else {
            Err((StatusCode::FORBIDDEN, self.lang.t(super::words::CSRF_REFUSED)).into_response())
        }
    }
}

pub fn forbidden(lang: Lang) -> Response {
    (StatusCode::FORBIDDEN, lang.t(super::words::FORBIDDEN)).into_response()
}

/// Where a request without a session goes: the login page, then back.
pub struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let next: String = url_escape(&self.0);
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

/// Percent-encode for a query value.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path to go back to after login: only this site's own paths.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        // Browsers drop TAB, CR and LF inside a URL and read `\\` as `/`, so `/\t/evil` would
        // become `//evil`: refuse every control byte, space, DEL and backslash outright.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.bytes().any(|b| b <= 0x20 || b == 0x7f || b == b'\\')
                && !n.contains("://") =>
        {
            n.into()
        }
        _ => "/".into(),
    }
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let here = parts.uri.path_and_query().map_or("/".to_string(), |p| p.as_str().to_string());
        let back = if parts.method == axum::http::Method::GET { here } else { "/".into() };
        let Some(value) = cookie(&parts.headers, session_cookie(web.secure)) else {
            return Err(ToLogin(back).into_response());
        };
        let hash = session_hash(&value);
        let (store, idle) = (web.app.store.clone(), web.app.config.console.session_idle.as_secs() as i64);
        let h = hash.clone();
        let touch = TOUCH_SECS.min(idle / 4);
        let found = tokio::task::spawn_blocking(move || store.console().session(&h, idle, touch))
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())?
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())?;
        let Some(session) = found else {
            return Err(ToLogin(back).into_response());
        };
        Ok(Viewer { user: session.user, lang: lang_of(&parts.headers), csrf: csrf_token(&value), session_hash: hash })
    }
}

/// The failed-login limiter's verdict for a wrong password.
pub fn count_wrong(web: &Web, ip: std::net::IpAddr, name: &str) -> crate::authlimit::Verdict {
    use crate::authlimit::Key;
    let mut keys = Key::addrs(ip);
    keys.push(Key::credential(&format!("console:{}", name.trim().to_lowercase())));
    web.limiter.wrong(&keys, Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("Grüße 2026!").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("Grüße 2026!", &h));
        assert!(!verify_password("Grüße 2026", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/outbox?state=held")), "/outbox?state=held");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "outbox",
            "",
            "/\t/evil.example/",
            "/\r/evil.example/",
            "/\n/evil.example/",
            "/ /evil.example/",
            "/\x7f/evil.example/",
            "/\x00/evil.example/",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookies_are_read_and_set_strictly() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; postbote_session=abc; lang=en".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "lang").as_deref(), Some("en"));
        assert_eq!(cookie(&h, "b"), None);
        let c = set_cookie(SESSION_COOKIE, "v", Some(60), true);
        assert_eq!(c, "postbote_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
        assert!(!set_cookie(SESSION_COOKIE, "v", None, false).contains("Secure"));
        // Over TLS the name carries the `__Host-` prefix, whose rules the cookie meets.
        assert_eq!(session_cookie(false), "postbote_session");
        let c = set_cookie(session_cookie(true), "v", Some(60), true);
        assert!(c.starts_with("__Host-postbote_session=v; Path=/;"), "{c}");
        assert!(c.contains("; Secure") && !c.contains("Domain"), "{c}");
    }
}
