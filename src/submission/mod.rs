//! The SMTP submission server for phones' own mail apps (RFC 6409): what a phone sends goes
//! into the outbox, as if the office had queued it.
//!
//! Two listeners from `[submission]`: `listen` (port-587 style, STARTTLS offered when
//! `[phones]` has a certificate) and `listen_tls` (port-465 style, TLS from the first byte).
//! A device logs in with AUTH PLAIN or LOGIN, its token as the password
//! (`app.logins`, the one failed-login limiter that JMAP and IMAP share, so wrong tokens on
//! any port count together), and gets a place among its open connections (`app.live`, the
//! per-device cap; revoking the device ends the connection with 421). Before TLS, AUTH is
//! offered only on a loopback address. Connections that have not logged in are capped per
//! client address across both listeners ([`MAX_UNAUTHED_PER_ADDR`]; more are answered 421 and
//! closed at once), so a flood from one address cannot use up the daemon's file descriptors.
//!
//! A message is accepted only when `MAIL FROM` and its `From:` are addresses of a mailbox
//! the device may use ([`rules`]); it gets a `Received:` line naming the device and is handed
//! to `outbox::enqueue` for the mailbox of its `From:`, with the RCPT list as its recipients
//! (the envelope is the truth, so Bcc works). `250` is answered only after that commit;
//! from then on the office-session gate, the path, DKIM, retries, notices and the Sent copy
//! apply as to any queued mail. Recipients are not checked here: the outbox reports them.
//!
//! Every write to a client is bounded like every read: a client that never reads its replies
//! is dropped after the idle timeout, at shutdown or on revocation, never waited on forever.
//!
//! Files: [`session`] is one connection's dialogue (parsing by `smtp-proto`), [`data`] the
//! pure DATA reader, [`rules`] the pure sender, AUTH and trace rules. It imports the outbox,
//! the devices, the store, the config and the foundations; never `jmap` or the IMAP server.
//! It never logs an AUTH line, a token or a message body.

pub mod data;
pub mod rules;
mod session;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::devices::ServerTls;

/// Connections from one client address that have not logged in (yet), over both listeners.
pub const MAX_UNAUTHED_PER_ADDR: usize = 10;

/// What the connections of one listener share.
struct Listener {
    app: App,
    tls: Option<Arc<ServerTls>>,
    /// TLS from the first byte.
    implicit: bool,
    unauthed: Arc<Unauthed>,
}

/// The count of not-yet-logged-in connections per client address.
#[derive(Debug, Default)]
struct Unauthed {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A place among an address's not-yet-logged-in connections; given back when dropped (at
/// login, or when the connection ends).
#[derive(Debug)]
pub(crate) struct UnauthedPlace {
    of: Arc<Unauthed>,
    ip: IpAddr,
}

impl Unauthed {
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<UnauthedPlace> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= MAX_UNAUTHED_PER_ADDR {
            return None;
        }
        *n += 1;
        Some(UnauthedPlace { of: self.clone(), ip })
    }
}

impl Drop for UnauthedPlace {
    fn drop(&mut self) {
        let mut open = self.of.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
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
    let unauthed = Arc::new(Unauthed::default());
    for (socket, implicit) in listeners {
        tracing::info!(listen = %socket.local_addr()?, implicit_tls = implicit, "submission: listening");
        let l = Arc::new(Listener { app: app.clone(), tls: tls.clone(), implicit, unauthed: unauthed.clone() });
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

async fn connection(l: Arc<Listener>, mut tcp: TcpStream, peer: SocketAddr, token: CancellationToken) {
    let _ = tcp.set_nodelay(true);
    let local = match tcp.local_addr() {
        Ok(a) => a.ip(),
        Err(_) => return,
    };
    let peer = peer.ip().to_canonical();
    let Some(place) = l.unauthed.enter(peer) else {
        tracing::info!(%peer, "submission: too many connections without a login from one address");
        if !l.implicit {
            // Best effort and bounded: a client that does not read is simply dropped. On the
            // implicit-TLS port clear text means nothing to the client, so it is only closed.
            use tokio::io::AsyncWriteExt as _;
            let bye = b"421 4.7.0 Too many connections from your address; try again later\r\n";
            let _ = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(bye)).await;
        }
        return;
    };
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
        session::Session::new(l, Box::new(stream), peer, local, true, token, place).run().await;
    } else {
        session::Session::new(l, Box::new(tcp), peer, local, false, token, place).run().await;
    }
}
