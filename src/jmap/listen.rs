//! The listening side of the server: the errors of starting it. The client's address for the
//! failed-login limiter and the TLS accept loop are `crate::devices::tls`'s, shared with the
//! console. Plain HTTP is served only on loopback; the config refuses anything else.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("jmap: cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("jmap: TLS certificate {path}: {message}")]
    Tls { path: String, message: String },
    #[error("jmap: server failed: {0}")]
    Io(#[from] std::io::Error),
}

pub use crate::devices::tls::{PeerAddr, TlsListener};
