//! The IMAP server for phones' own mail apps (iPhone Mail, Gmail, Outlook, K-9), served from
//! the store (`[imap_server]`).
//!
//! A server for a protocol is two layers: imap-next's sans-I/O `Server` (over imap-codec)
//! parses commands, runs the literal, AUTHENTICATE and IDLE exchanges and encodes responses
//! (`wire.rs` moves its bytes over TCP or TLS); the session (`session.rs`) maps commands onto
//! the store. A device logs in with its token through the daemon's one `devices::Logins` (`app.logins`, shared with JMAP and SMTP)
//! and holds a `devices::Connection` while it is connected, so the per-device cap applies and
//! a revocation ends the session with `* BYE`. It sees its own mailbox at the root and granted
//! ones under `Shared/<id>/` (`names.rs`). UIDs, UIDVALIDITY, MODSEQ and `\Deleted` are the
//! store's own (`store::imap_uids`); sequence numbers are the session's (`view.rs`). Every
//! change goes through the store's write paths that JMAP uses, so it is written back to the
//! hosted server by the same durable queue. FETCH and SEARCH rendering are pure functions in
//! `render/` and `search.rs`.
//!
//! The plain listener offers STARTTLS when `[phones]` has TLS files and allows a login before
//! TLS only from loopback; `listen_tls` speaks TLS from the first byte. The server stops on
//! the daemon's cancellation token, ending every session with `* BYE`. It imports the store,
//! the app, `devices`, `message`, `imap::mutf7` and the config, and never `jmap`.

pub mod mailboxes;
pub mod names;
pub mod render;
pub mod search;
pub mod selected;
pub mod session;
pub mod view;
pub mod wire;
pub mod writes;

use std::sync::Arc;

use imap_codec::imap_types::response::Greeting;
use imap_next::server::Options;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use session::{Session, Shared};
use wire::{Stream, Wire};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("imap_server: cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("imap_server: {0}")]
    Tls(#[from] crate::devices::tls::TlsFileError),
}

/// Bind the configured listeners and serve until `token` is cancelled.
pub async fn serve(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let cfg = app.config.imap_server.clone();
    let plain = TcpListener::bind(cfg.listen).await.map_err(|source| ServeError::Bind { addr: cfg.listen, source })?;
    let tls_listener = match cfg.listen_tls {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?),
        None => None,
    };
    serve_on(app, plain, tls_listener, token).await
}

/// Serve on listeners already bound (tests bind port 0).
pub async fn serve_on(
    app: App,
    plain: TcpListener,
    implicit_tls: Option<TcpListener>,
    token: CancellationToken,
) -> anyhow::Result<()> {
    let tls = match &app.config.phones.tls {
        Some((cert, key)) => Some(crate::devices::ServerTls::load(cert, key, &[]).map_err(ServeError::Tls)?),
        None => None,
    };
    let shared = Arc::new(Shared { logins: app.logins.clone(), app, tls });
    tracing::info!(listen = %plain.local_addr()?, "imapd: serving IMAP for phones");
    let tracker = TaskTracker::new();
    let accept = |listener: TcpListener, implicit: bool| {
        let (shared, token, tracker) = (shared.clone(), token.clone(), tracker.clone());
        async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = token.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "imapd: accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let (shared, token) = (shared.clone(), token.clone());
                tracker.spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let stream = if implicit {
                        let Some(tls) = shared.tls.clone() else { return };
                        let handshake =
                            tokio::time::timeout(std::time::Duration::from_secs(30), tls.acceptor().accept(tcp));
                        match handshake.await {
                            Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                            _ => return,
                        }
                    } else {
                        Stream::Plain(tcp)
                    };
                    let limit = shared.app.config.imap_server.append_limit;
                    let mut options = Options::default();
                    options.max_literal_size = limit;
                    options.max_command_size = limit.saturating_add(64 * 1024);
                    let greeting = Greeting::ok(None, "postbote IMAP ready").expect("a valid greeting");
                    let wire = Wire::new(stream, options, greeting, implicit);
                    Session::new(shared, wire, peer).run(token).await;
                });
            }
        }
    };
    let mut loops = vec![tokio::spawn(accept(plain, false))];
    if let Some(l) = implicit_tls {
        loops.push(tokio::spawn(accept(l, true)));
    }
    for l in loops {
        let _ = l.await;
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}
