//! The SMTP submission server for phones' own mail apps (RFC 6409): what a phone sends goes
//! into the outbox, as if the office had queued it.
//!
//! Two listeners from `[submission]`: `listen` (port-587 style, STARTTLS offered when
//! `[phones]` has a certificate) and `listen_tls` (port-465 style, TLS from the first byte).
//! A device logs in with AUTH PLAIN or LOGIN, its token as the password
//! (`devices::Logins`, one limiter per listener), and gets a place among its open
//! connections (`app.live`, the per-device cap; revoking the device ends the connection with
//! 421). Before TLS, AUTH is offered only on a loopback address.
//!
//! A message is accepted only when `MAIL FROM` and its `From:` are addresses of a mailbox
//! the device may use ([`rules`]); it gets a `Received:` line naming the device and is handed
//! to `outbox::enqueue` for the mailbox of its `From:`, with the RCPT list as its recipients
//! (the envelope is the truth, so Bcc works). `250` is answered only after that commit;
//! from then on the office-session gate, the path, DKIM, retries, notices and the Sent copy
//! apply as to any queued mail. Recipients are not checked here: the outbox reports them.
//!
//! Files: [`session`] is one connection's dialogue (parsing by `smtp-proto`), [`data`] the
//! pure DATA reader, [`rules`] the pure sender, AUTH and trace rules. It imports the outbox,
//! the devices, the store, the config and the foundations; never `jmap` or the IMAP server.
//! It never logs an AUTH line, a token or a message body.

pub mod data;
pub mod rules;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::devices::{Logins, ServerTls};

/// What the connections of one listener share.
struct Listener {
    app: App,
    logins: Arc<Logins>,
    tls: Option<Arc<ServerTls>>,
    /// TLS from the first byte.
    implicit: bool,
}

/// Serve `[submission]` until `token` is cancelled; then every connection finishes the
/// commit it is in, answers 421 and closes, and this returns once all have.
pub async fn serve(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let cfg = app.config.submission.clone();
    let tls = match &app.config.phones.tls {
        Some((cert, key)) => Some(ServerTls::load(cert, key, &[])?),
        None => None,
    };
    let mut listeners = Vec::new();
    let plain = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("submission: cannot listen on {} (submission.listen)", cfg.listen))?;
    listeners.push((plain, false));
    if let Some(addr) = cfg.listen_tls {
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("submission: cannot listen on {addr} (submission.listen_tls)"))?;
        listeners.push((l, true));
    }
    let tracker = TaskTracker::new();
    for (socket, implicit) in listeners {
        tracing::info!(listen = %socket.local_addr()?, implicit_tls = implicit, "submission: listening");
        let l =
            Arc::new(Listener { app: app.clone(), logins: Arc::new(Logins::default()), tls: tls.clone(), implicit });
        tracker.spawn(accept(socket, l, token.clone(), tracker.clone()));
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn accept(socket: TcpListener, l: Arc<Listener>, token: CancellationToken, tracker: TaskTracker) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = token.cancelled() => return,
            r = socket.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, never spin.
                    tracing::warn!(error = %e, "submission: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tracker.spawn(connection(l.clone(), tcp, peer, token.clone()));
    }
}

async fn connection(l: Arc<Listener>, tcp: TcpStream, peer: SocketAddr, token: CancellationToken) {
    let _ = tcp.set_nodelay(true);
    let local = match tcp.local_addr() {
        Ok(a) => a.ip(),
        Err(_) => return,
    };
    let peer = peer.ip().to_canonical();
    if l.implicit {
        let Some(tls) = &l.tls else { return };
        let acceptor = tls.acceptor();
        let stream = tokio::select! {
            r = tokio::time::timeout(session::HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match r {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "submission: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            },
            _ = token.cancelled() => return,
        };
        session::Session::new(l, Box::new(stream), peer, local, true, token).run().await;
    } else {
        session::Session::new(l, Box::new(tcp), peer, local, false, token).run().await;
    }
}
