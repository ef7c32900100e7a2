//! The office console: a web page for the people in the office and for employees on their
//! phones. Served by the daemon on its own listener (`[console]`: loopback by default, TLS
//! anywhere else, with the certificate re-read on SIGHUP like every listener).
//!
//! Pages are rendered on the server with `maud` and work without JavaScript; every action is
//! a plain form POST that answers with a redirect. German is the default, English comes from
//! `Accept-Language` or the switch. Times are shown in the office's time zone (`clock`).
//!
//! Who may do what: office accounts everything; employee accounts only what concerns their
//! own mailbox (their automatic reply, their queued mail, their phones). Each handler says
//! which with [`auth::Viewer::office`] / [`auth::Viewer::mailbox`].
//!
//! Layout: [`auth`] (accounts, passwords, sessions, the `Viewer` extractor), [`guard`] (CSRF,
//! cross-site refusal, security headers: pure rules), [`login`] (the login, logout and
//! language handlers), [`i18n`] and [`words`] (the two languages), [`layout`] (the page around
//! every page), and one file per page under [`pages`]. Every action writes a row to the
//! store's console audit log.

// A handler answers with a `Response` either way; a refusal is one too, not worth boxing.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod guard;
pub mod i18n;
pub mod layout;
pub mod login;
pub mod pages;
pub mod words;

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::authlimit::AuthLimiter;
use crate::devices::tls::{PeerAddr, TlsListener};

/// What every console handler shares.
#[derive(Clone)]
pub struct Web {
    pub app: App,
    pub limiter: Arc<AuthLimiter>,
    /// Served over TLS: cookies are `Secure`.
    pub secure: bool,
    /// Permits for Argon2 verifications ([`ARGON2_AT_ONCE`]), so a flood of logins cannot
    /// take every blocking thread and all memory.
    pub argon2: Arc<tokio::sync::Semaphore>,
}

/// Argon2 password verifications running at the same time, at most.
pub const ARGON2_AT_ONCE: usize = 2;

impl Web {
    pub fn new(app: App, secure: bool) -> Web {
        Web {
            app,
            limiter: Arc::new(AuthLimiter::default()),
            secure,
            argon2: Arc::new(tokio::sync::Semaphore::new(ARGON2_AT_ONCE)),
        }
    }

    /// Write an audit row for `who` doing `action` (never with a password or token).
    pub async fn audit(&self, who: &str, action: &str, detail: String) {
        let (store, who, action) = (self.app.store.clone(), who.to_string(), action.to_string());
        let r = tokio::task::spawn_blocking(move || store.console().audit(&who, &action, &detail)).await;
        if !matches!(r, Ok(Ok(()))) {
            tracing::warn!("console: an audit row could not be written");
        }
    }

    /// Run blocking store work off the async threads; a failure is a 500 page.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&App) -> anyhow::Result<R> + Send + 'static,
    ) -> Result<R, Response> {
        let app = self.app.clone();
        match tokio::task::spawn_blocking(move || f(&app)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(internal(&e.to_string())),
            Err(e) => Err(internal(&e.to_string())),
        }
    }
}

/// The words of a 500 page (the cause is in the daemon's log, never on the page).
const INTERNAL: i18n::Words =
    i18n::w("Interner Fehler; Näheres steht im Protokoll des Dienstes.", "Internal error; see the daemon's log.");

/// Marks a 500 made by [`internal`], so [`localize_internal`] words it in the page's language.
#[derive(Clone, Copy)]
struct Internal;

pub fn internal(message: &str) -> Response {
    tracing::warn!(error = message, "console: a page failed");
    let mut res = (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL.en).into_response();
    res.extensions_mut().insert(Internal);
    res
}

/// A 500 from [`internal`] is said in the request's language (the handler that failed may
/// not have known it).
async fn localize_internal(req: Request, next: Next) -> Response {
    let lang = auth::lang_of(req.headers());
    let res = next.run(req).await;
    if res.extensions().get::<Internal>().is_some() {
        return (StatusCode::INTERNAL_SERVER_ERROR, lang.t(INTERNAL)).into_response();
    }
    res
}

/// The routes (without the listener), for the daemon and for tests.
pub fn router(web: Web) -> Router {
    let r = Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", axum::routing::post(login::logout))
        .route("/lang/{code}", get(login::switch_lang))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script));
    pages::routes(r)
        .layer(middleware::from_fn(localize_internal))
        .layer(middleware::from_fn(refuse_cross_site))
        .layer(middleware::from_fn(security_headers))
        .with_state(web)
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../static/console.css")).into_response()
}

/// Progressive enhancement only (the live preview of an automatic reply): every page works
/// without it.
async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../static/console.js"))
        .into_response()
}

/// Every answer carries the security headers (`guard::SECURITY_HEADERS`).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    for (k, v) in guard::SECURITY_HEADERS {
        res.headers_mut().insert(*k, HeaderValue::from_static(v));
    }
    res
}

/// A state-changing request from another site is refused before any handler sees it.
async fn refuse_cross_site(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let h = req.headers();
        let get = |n: header::HeaderName| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        if !guard::same_origin(site, get(header::ORIGIN).as_deref(), get(header::HOST).as_deref()) {
            let lang = auth::lang_of(h);
            return (StatusCode::FORBIDDEN, lang.t(words::CROSS_SITE_REFUSED)).into_response();
        }
    }
    next.run(req).await
}

/// Serve the console until `token` is cancelled.
pub async fn serve(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let cfg = app.config.console.clone();
    let tls = cfg
        .tls
        .as_ref()
        .map(|(c, k)| crate::devices::ServerTls::load(c, k, &[b"http/1.1"]))
        .transpose()
        .map_err(|e| anyhow::anyhow!("console: {e}"))?;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("console: cannot listen on {}: {e}", cfg.listen))?;
    let web = Web::new(app, tls.is_some());
    let router = router(web).into_make_service_with_connect_info::<PeerAddr>();
    tracing::info!(listen = %cfg.listen, tls = tls.is_some(), "console listening");
    let stop = token.clone();
    match tls {
        None => axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await }).await?,
        Some(tls) => {
            let mut helpers = tokio::task::JoinSet::new();
            let listener = TlsListener::spawn(listener, tls, token.clone(), &mut helpers);
            axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await }).await?;
            helpers.shutdown().await;
        }
    }
    Ok(())
}

/// The client's address (for the login limiter): the TCP peer, loopback when unknown.
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<PeerAddr>>().map_or([127, 0, 0, 1].into(), |c| c.0.0.ip());
        Ok(ClientIp(ip))
    }
}

/// Shared state for handlers that only need the app.
pub type WebState = State<Web>;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Regression: a failed page answered in English whatever the page's language.
    #[tokio::test]
    async fn an_internal_error_is_said_in_the_pages_language() {
        let app = Router::new()
            .route("/boom", get(|| async { internal("a test failure") }))
            .layer(middleware::from_fn(localize_internal));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        for (accept, want) in [("de-DE", INTERNAL.de), ("en", INTERNAL.en)] {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let req =
                format!("GET /boom HTTP/1.1\r\nHost: x\r\nAccept-Language: {accept}\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            let out = String::from_utf8_lossy(&out);
            assert!(out.starts_with("HTTP/1.1 500"), "{out}");
            assert!(out.ends_with(want), "{accept}: {out}");
        }
        server.abort();
    }
}
