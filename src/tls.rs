//! TLS client settings shared by the IMAP mirror and the SMTP transports.
//!
//! Certificates are checked against the system's roots (rustls-platform-verifier) plus, where
//! the config names one, an extra CA file for a server with a self-signed certificate. There is
//! no switch to turn verification off. PEM is read with `rustls-pki-types`.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::rustls::{self, ClientConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// Install the process-wide crypto provider (aws-lc-rs). Safe to call more than once.
pub fn install_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Read every certificate in a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |message: String| TlsError::CaFile { path: path.display().to_string(), message };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("holds no certificate".into()));
    }
    Ok(certs)
}

/// A client configuration that trusts the system roots and `ca_file`, if given.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    install_provider();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra = match ca_file {
        Some(p) => read_certs(p)?,
        None => Vec::new(),
    };
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The server name to check the certificate against.
pub fn server_name(host: &str) -> Result<rustls_pki_types::ServerName<'static>, TlsError> {
    rustls_pki_types::ServerName::try_from(host.to_string()).map_err(|e| TlsError::Setup(format!("{host}: {e}")))
}
