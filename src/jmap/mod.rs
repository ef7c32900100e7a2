//! The JMAP server for phones (RFC 8620 core, RFC 8621 mail), served from the local store.
//!
//! A phone learns what changed in one round trip (`Foo/changes` answered from the store's
//! per-account modseq and change log), gets a push over EventSource when new mail is mirrored,
//! and writes (keywords, moves, destroys, drafts, folders) go to the store at once and onto the
//! durable write-back queue that the IMAP task works off. No request ever waits on IMAP or
//! SMTP: the only I/O a request does is SQLite. Wire types (JSON) live only here; store types
//! never derive the API's serde.
//!
//! Layers, bottom to top; a file imports only files of the layers below it:
//! - foundations: `ids` (ids and state strings), `limits`, `device` (who is asking), `body`
//!   (MIME parts, header forms, drafts), `tree` (the mailbox hierarchy), `push_wire` (what goes
//!   to a push URL, and its Web Push encryption).
//! - the method toolkit: `method` (`Ctx`, `MethodError`, argument helpers), `set` (the /set
//!   arguments and the one `SetResponse` builder), `filter` (the Email filter).
//! - one file per data type: `mailbox`, `thread`, `email` (get; `query`, `set` inside),
//!   `snippet` (SearchSnippet), `identity`, `submission` (EmailSubmission), `vacation`
//!   (VacationResponse), `push` (PushSubscription), `copy` (Email/copy and Blob/copy, between
//!   two accounts of the device).
//! - `dispatch`: the request envelope, result references, and the only importer of the types.
//! - transport: `server` (shared state, problem+json), `listen` (TLS, peer address), `auth`
//!   (the one place that reads `Authorization`; handlers take [`auth::Authed`]), `api`
//!   (`POST apiUrl`), `session`, `blob` (upload, download), `eventsource`, `push_delivery` (the
//!   task that POSTs to push subscriptions; the daemon starts it), `setup` (phone setup without
//!   a login: the one-time profile link and autoconfig), and this file (routes and `serve`).
//!
//! Plain HTTP is served only on loopback (the config refuses anything else); otherwise TLS.

pub mod api;
pub mod auth;
pub mod blob;
pub mod body;
pub mod copy;
pub mod device;
pub mod dispatch;
pub mod email;
pub mod eventsource;
pub mod filter;
pub mod identity;
pub mod ids;
#[cfg(test)]
mod layers;
pub mod limits;
pub mod listen;
pub mod mailbox;
pub mod method;
pub mod placement;
pub mod push;
pub mod push_delivery;
pub mod push_wire;
pub mod server;
pub mod session;
pub mod set;
pub mod setup;
pub mod snippet;
pub mod submission;
pub mod thread;
pub mod tree;
pub mod type_state;
pub mod vacation;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use listen::{PeerAddr, ServeError};
pub use server::Server;

use crate::app::App;
use listen::TlsListener;

/// The routes; `serve` adds the listener. Public so a test or bench can drive it directly.
pub fn router(server: Server) -> Router {
    Router::new()
        .route("/.well-known/jmap", get(session::get_session))
        .route("/jmap/session", get(session::get_session))
        .route("/jmap/api", post(api::post_api))
        .route("/jmap/api/", post(api::post_api))
        .route("/jmap/upload/{account}/", post(blob::upload))
        .route("/jmap/upload/{account}", post(blob::upload))
        .route("/jmap/download/{account}/{blob}/{name}", get(blob::download))
        .route("/jmap/eventsource/", get(eventsource::event_source))
        .route("/jmap/eventsource", get(eventsource::event_source))
        // Phone setup, without a login: the one-time profile link and autoconfig.
        .route("/setup/{link}", get(setup::get_profile).head(setup::head_profile))
        .route("/.well-known/autoconfig/mail/config-v1.1.xml", get(setup::get_autoconfig))
        .route("/mail/config-v1.1.xml", get(setup::get_autoconfig))
        // Size limits are enforced per route (request vs upload) with proper JMAP errors.
        .layer(DefaultBodyLimit::disable())
        .with_state(server)
}

/// Run the JMAP server until `token` is cancelled.
///
/// The port is bound and the certificate loaded before anything is started, so a server that
/// cannot start leaves nothing behind. Everything it starts (the change-log purge, the
/// setup-link purge, the TLS accept loop, axum's connections) ends with this future, also
/// when it is dropped without `token` being cancelled: the helpers live in a `JoinSet` owned
/// here, and the rest watch a child token that a drop guard cancels.
pub async fn serve(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let cfg = app.config.jmap.clone();
    let listener =
        TcpListener::bind(cfg.listen).await.map_err(|source| ServeError::Bind { addr: cfg.listen, source })?;
    let acceptor = cfg
        .tls
        .as_ref()
        .map(|(cert, key)| crate::devices::ServerTls::load(cert, key, &[b"http/1.1"]))
        .transpose()
        .map_err(|e| ServeError::Tls { path: e.path, message: e.message })?;
    let stop = token.child_token();
    let _stop_when_dropped = stop.clone().drop_guard();
    let mut helpers = tokio::task::JoinSet::new();
    helpers.spawn(purge_daily(app.clone(), stop.clone()));
    helpers.spawn(forget_expired_setup_links(app.clone(), stop.clone()));
    let server = Server::new(app, stop.clone());
    tracing::info!(listen = %cfg.listen, url = %cfg.public_url, tls = acceptor.is_some(), "jmap server listening");
    let routes = router(server).into_make_service_with_connect_info::<PeerAddr>();
    let r = match acceptor {
        None => axum::serve(listener, routes).with_graceful_shutdown(stop.clone().cancelled_owned()).await,
        Some(acceptor) => {
            let tls = TlsListener::spawn(listener, acceptor, stop.clone(), &mut helpers);
            axum::serve(tls, routes).with_graceful_shutdown(stop.clone().cancelled_owned()).await
        }
    };
    stop.cancel();
    helpers.shutdown().await;
    r.map_err(ServeError::Io)?;
    Ok(())
}

/// Every minute: forget the setup profiles of expired one-time links (`setup`), so that an
/// unused profile does not outlive its link by more than that.
async fn forget_expired_setup_links(app: App, token: CancellationToken) {
    loop {
        let store = app.store.clone();
        match tokio::task::spawn_blocking(move || store.setup_links().purge(crate::store::now())).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(links = n, "setup: forgot the profiles of expired setup links"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "setup: forgetting expired setup links failed; retrying"),
            Err(e) => tracing::warn!(error = %e, "setup: the setup-link purge task failed"),
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

/// Once at start and then daily: drop change-log rows older than the retention.
async fn purge_daily(app: App, token: CancellationToken) {
    loop {
        let store = app.store.clone();
        match tokio::task::spawn_blocking(move || store.changes().purge(limits::CHANGE_LOG_DAYS * 86_400)).await {
            Ok(Ok(n)) if n > 0 => {
                tracing::info!(rows = n, "jmap: purged change-log rows older than {} days", limits::CHANGE_LOG_DAYS)
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "jmap: change-log purge failed; retrying tomorrow"),
            Err(e) => tracing::warn!(error = %e, "jmap: change-log purge task failed"),
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(86_400)) => {}
        }
    }
}
