//! A listener's server certificate, re-read without a restart.
//!
//! [`ServerTls::load`] reads a PEM chain and key (through `rustls-pki-types`) and registers the
//! result, so that [`reload_all`] (the daemon calls it on SIGHUP, e.g. after certbot renewed the
//! files) re-reads every listener's files. A listener takes [`ServerTls::acceptor`] for each
//! new connection, so a renewed certificate is presented from the next handshake on, and open
//! connections keep theirs. A reload that fails (a half-written file) keeps the old
//! certificate and says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

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
