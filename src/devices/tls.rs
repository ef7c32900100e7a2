//! A listener's server certificate, re-read without a restart.
//!
//! [`ServerTls::load`] reads a PEM chain and key (through `rustls-pki-types`) and registers the
//! result, so that [`reload_all`] (the daemon calls it on SIGHUP, e.g. after certbot renewed the
//! files) re-reads every listener's files. A listener takes [`ServerTls::acceptor`] for each
//! new connection, so a renewed certificate is presented from the next handshake on, and open
//! connections keep theirs. A reload that fails (a half-written file) keeps the old
//! certificate and says why.
//!
//! [`TlsListener`] is the accept loop of an HTTP listener over TLS (JMAP, the console): each
//! handshake completes in its own task, so one slow client never holds up the others, and
//! [`PeerAddr`] is the client's address as the handlers see it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
#[error("TLS certificate {path}: {message}")]
pub struct TlsFileError {
    pub path: String,
    pub message: String,
}

/// A certificate and key from files, and the acceptor made of them.
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    alpn: Vec<Vec<u8>>,
    current: RwLock<TlsAcceptor>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

/// Every loaded certificate, for [`reload_all`].
static LOADED: Mutex<Vec<Weak<ServerTls>>> = Mutex::new(Vec::new());

fn acceptor(cert: &Path, key: &Path, alpn: &[Vec<u8>]) -> Result<TlsAcceptor, TlsFileError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    crate::tls::install_provider();
    let err = |p: &Path, m: String| TlsFileError { path: p.display().to_string(), message: m };
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
    config.alpn_protocols = alpn.to_vec();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl ServerTls {
    /// Read `cert` and `key`; `alpn` is what the listener speaks (e.g. `http/1.1`, or none).
    pub fn load(cert: &Path, key: &Path, alpn: &[&[u8]]) -> Result<Arc<ServerTls>, TlsFileError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|a| a.to_vec()).collect();
        let current = RwLock::new(acceptor(cert, key, &alpn)?);
        let tls = Arc::new(ServerTls { cert: cert.to_owned(), key: key.to_owned(), alpn, current });
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|w| w.strong_count() > 0);
        loaded.push(Arc::downgrade(&tls));
        Ok(tls)
    }

    /// The acceptor for the next handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-read the files; on failure the old certificate stays.
    pub fn reload(&self) -> Result<(), TlsFileError> {
        let fresh = acceptor(&self.cert, &self.key, &self.alpn)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

/// Re-read every listener's certificate (on SIGHUP). Returns how many were reloaded and the
/// errors of those that kept their old one.
pub fn reload_all() -> (usize, Vec<TlsFileError>) {
    let all: Vec<Arc<ServerTls>> = {
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|w| w.strong_count() > 0);
        loaded.iter().filter_map(Weak::upgrade).collect()
    };
    let mut ok = 0;
    let mut errors = Vec::new();
    for t in all {
        match t.reload() {
            Ok(()) => ok += 1,
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
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

/// Accepts TCP connections and completes TLS handshakes in their own tasks, so one slow or
/// broken client never holds up the accept loop; hands finished streams to axum.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// The accept loop runs in `tasks`, so it ends with the server that owns them.
    pub fn spawn(
        listener: TcpListener,
        tls: Arc<ServerTls>,
        token: CancellationToken,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> TlsListener {
        let local = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tasks.spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = token.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (tls.acceptor(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
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
