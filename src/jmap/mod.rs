//! The JMAP server for phones (RFC 8620 core, RFC 8621 mail), served from the local store.
//!
//! A phone learns what changed in one round trip (`Foo/changes` answered from the store's
//! per-account modseq and change log), gets a push over EventSource when new mail is mirrored,
//! and writes (keywords, moves, destroys, drafts, folders) go to the store at once and onto the
//! durable write-back queue that the IMAP task works off. No request ever waits on IMAP or
//! SMTP: the only I/O a request does is SQLite.
//!
//! Layout: `auth` (the one place that reads `Authorization`; handlers take [`auth::Authed`]),
//! `api` (the request envelope, result and creation references, errors, dispatch), `session`,
//! `mail` (Mailbox, Thread, Identity), `email` (Email, SearchSnippet), `submission`
//! (EmailSubmission through the outbound queue, VacationResponse on the auto-reply settings), `body` (MIME parts,
//! header forms, drafts), `push` (EventSource), `blob` (upload, download), `ids` (ids and
//! state strings). Wire types (JSON) live only here; store types never derive the API's serde.
//! Plain HTTP is served only on loopback (the config refuses anything else); otherwise TLS.

pub mod api;
pub mod auth;
pub mod blob;
pub mod body;
pub mod email;
pub mod ids;
pub mod mail;
pub mod push;
pub mod session;
pub mod submission;
pub mod tree;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::app::App;

/// The limits advertised in the session's core capability, and enforced.
pub mod limits {
    pub const MAX_SIZE_UPLOAD: usize = 50_000_000;
    pub const MAX_CONCURRENT_UPLOAD: usize = 4;
    pub const MAX_SIZE_REQUEST: usize = 10_000_000;
    pub const MAX_CONCURRENT_REQUESTS: usize = 4;
    pub const MAX_CALLS_IN_REQUEST: usize = 16;
    pub const MAX_OBJECTS_IN_GET: usize = 500;
    pub const MAX_OBJECTS_IN_SET: usize = 500;
    /// Server cap on `/query` `limit` (returned in the response when it clamps).
    pub const MAX_QUERY_LIMIT: usize = 1000;
    /// Server cap on `/changes` when the client gives no (or a larger) `maxChanges`.
    pub const MAX_CHANGES: usize = 5000;
    /// How long the change log is kept: states older than this get `cannotCalculateChanges`.
    pub const CHANGE_LOG_DAYS: i64 = 30;
    /// Conditions and operators in one `/query` filter (`unsupportedFilter` beyond).
    pub const MAX_FILTER_CONDITIONS: usize = 100;
    /// Nesting of filter operators (`unsupportedFilter` beyond).
    pub const MAX_FILTER_DEPTH: usize = 10;
    /// Comparators in one `/query` sort (`unsupportedSort` beyond).
    pub const MAX_SORT_COMPARATORS: usize = 8;
}

/// What every handler shares.
#[derive(Clone)]
pub struct Server {
    pub app: App,
    pub failures: Arc<crate::authlimit::AuthLimiter>,
    /// Requests in flight per device (maxConcurrentRequests), uploads per device.
    requests: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
    uploads: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
    /// Store work in flight, bounded below the store's pool of reader connections: more
    /// parallel readers would each open (and drop) a connection of their own, which costs more
    /// than the wait.
    db: Arc<Semaphore>,
    pub shutdown: CancellationToken,
}

/// Parallel store calls of the JMAP server (the store keeps 8 readers; the mirror and the
/// outbox need some too).
const DB_PARALLEL: usize = 6;

impl Server {
    pub fn new(app: App, shutdown: CancellationToken) -> Server {
        Server {
            app,
            failures: Arc::new(crate::authlimit::AuthLimiter::default()),
            requests: Default::default(),
            uploads: Default::default(),
            db: Arc::new(Semaphore::new(DB_PARALLEL)),
            shutdown,
        }
    }

    fn semaphore(map: &Mutex<HashMap<i64, Arc<Semaphore>>>, device: i64, n: usize) -> Arc<Semaphore> {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(device).or_insert_with(|| Arc::new(Semaphore::new(n))).clone()
    }

    /// A permit for one API request of `device`, or None when it has too many in flight.
    pub fn request_permit(&self, device: i64) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Self::semaphore(&self.requests, device, limits::MAX_CONCURRENT_REQUESTS).try_acquire_owned().ok()
    }

    /// Run store work on a blocking thread, at most `DB_PARALLEL` at a time.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, tokio::task::JoinError> {
        let _permit = self.db.clone().acquire_owned().await.expect("the semaphore is never closed");
        tokio::task::spawn_blocking(f).await
    }

    pub fn upload_permit(&self, device: i64) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Self::semaphore(&self.uploads, device, limits::MAX_CONCURRENT_UPLOAD).try_acquire_owned().ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("jmap: cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("jmap: TLS certificate {path}: {message}")]
    Tls { path: String, message: String },
    #[error("jmap: server failed: {0}")]
    Io(#[from] std::io::Error),
}

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
        .route("/jmap/eventsource/", get(push::event_source))
        .route("/jmap/eventsource", get(push::event_source))
        // Size limits are enforced per route (request vs upload) with proper JMAP errors.
        .layer(DefaultBodyLimit::disable())
        .with_state(server)
}

/// Run the JMAP server until `token` is cancelled.
pub async fn serve(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let cfg = app.config.jmap.clone();
    let server = Server::new(app.clone(), token.clone());
    let purge = tokio::spawn(purge_daily(app.clone(), token.clone()));
    let follow = tokio::spawn(submission::follow_queue(app.clone(), token.clone()));
    let listener =
        TcpListener::bind(cfg.listen).await.map_err(|source| ServeError::Bind { addr: cfg.listen, source })?;
    tracing::info!(listen = %cfg.listen, url = %cfg.public_url, tls = cfg.tls.is_some(), "jmap server listening");
    let routes = router(server).into_make_service_with_connect_info::<PeerAddr>();
    let shutdown = token.clone();
    let r = match &cfg.tls {
        None => axum::serve(listener, routes).with_graceful_shutdown(shutdown.cancelled_owned()).await,
        Some((cert, key)) => {
            let acceptor = tls_acceptor(cert, key)?;
            let tls = TlsListener::spawn(listener, acceptor, token.clone());
            axum::serve(tls, routes).with_graceful_shutdown(shutdown.cancelled_owned()).await
        }
    };
    purge.abort();
    follow.abort();
    r.map_err(ServeError::Io)?;
    Ok(())
}

/// The client's address, for the per-address failure counter (plain and TLS listeners).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, TcpListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*s.remote_addr())
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

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    crate::tls::install_provider();
    let err = |p: &std::path::Path, m: String| ServeError::Tls { path: p.display().to_string(), message: m };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(err(cert, "holds no certificate".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| err(key, e.to_string()))?;
    let mut config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| err(cert, format!("does not match the key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections and completes TLS handshakes in their own tasks, so one slow or
/// broken client never holds up the accept loop; hands finished streams to axum.
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    fn spawn(listener: TcpListener, acceptor: TlsAcceptor, token: CancellationToken) -> TlsListener {
        let local = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = token.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "jmap: accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "jmap: TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "jmap: TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { rx, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task ended (shutdown): wait for graceful shutdown to stop us.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
