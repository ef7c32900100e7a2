//! The open IMAP and SMTP connections of each device.
//!
//! A listener opens a [`Connection`] right after a successful login and holds it for as long
//! as the connection lasts; dropping it closes the entry. [`Live::open`] refuses more than the
//! configured connections per device (`phones.max_connections_per_device`). Each connection
//! has a cancellation token ([`Connection::ended`]) that fires when its device is revoked: by
//! [`Live::revoke`] in this process, or found by [`Live::watch_revocations`] within a second
//! when `postbote device revoke` (another process) revoked it in the store. The store keeps a
//! row per open connection so that `status` can show who is connected; the daemon empties
//! those rows when it starts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::login::Protocol;
use crate::store::Store;

/// How often the revocation watch asks the store.
const REVOCATION_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Entry {
    id: u64,
    protocol: Protocol,
    cancel: CancellationToken,
}

/// Every open device connection of this daemon.
#[derive(Debug)]
pub struct Live {
    store: Store,
    cap: usize,
    next: AtomicU64,
    open: Mutex<HashMap<i64, Vec<Entry>>>,
}

/// More connections than a device may have at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this device already has {cap} open connections")]
pub struct TooMany {
    pub cap: usize,
}

/// One open connection; dropping it closes it.
#[derive(Debug)]
pub struct Connection {
    live: Arc<Live>,
    device: i64,
    id: u64,
    row: Option<i64>,
    cancel: CancellationToken,
}

impl Connection {
    /// Fires when the device is revoked (or the connection is ended from here).
    pub fn ended(&self) -> WaitForCancellationFutureOwned {
        self.cancel.clone().cancelled_owned()
    }

    pub fn is_ended(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub fn device(&self) -> i64 {
        self.device
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        {
            let mut open = self.live.open.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = open.get_mut(&self.device) {
                v.retain(|e| e.id != self.id);
                if v.is_empty() {
                    open.remove(&self.device);
                }
            }
        }
        if let Some(row) = self.row {
            let store = self.live.store.clone();
            let close = move || {
                if let Err(e) = store.devices().connection_close(row) {
                    tracing::warn!(error = %e, "devices: cannot note a closed connection");
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(h) => drop(h.spawn_blocking(close)),
                Err(_) => close(),
            }
        }
    }
}

impl Live {
    pub fn new(store: Store, cap: usize) -> Arc<Live> {
        Arc::new(Live { store, cap: cap.max(1), next: AtomicU64::new(1), open: Mutex::new(HashMap::new()) })
    }

    /// Open a connection for `device`, or refuse one over the cap.
    pub async fn open(self: &Arc<Self>, device: i64, protocol: Protocol) -> Result<Connection, TooMany> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let v = open.entry(device).or_default();
            if v.len() >= self.cap {
                return Err(TooMany { cap: self.cap });
            }
            v.push(Entry { id, protocol, cancel: cancel.clone() });
        }
        let mut conn = Connection { live: self.clone(), device, id, row: None, cancel };
        let store = self.store.clone();
        let row = tokio::task::spawn_blocking(move || store.devices().connection_open(device, protocol.as_str())).await;
        match row {
            Ok(Ok(r)) => conn.row = Some(r),
            Ok(Err(e)) => tracing::warn!(error = %e, "devices: cannot note an open connection"),
            Err(e) => tracing::warn!(error = %e, "devices: cannot note an open connection"),
        }
        Ok(conn)
    }

    /// End every open connection of `device` now; how many were not ended before (a
    /// connection stays in the list until its listener drops it).
    pub fn revoke(&self, device: i64) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let Some(v) = open.get(&device) else { return 0 };
        let mut ended = 0;
        for e in v.iter().filter(|e| !e.cancel.is_cancelled()) {
            e.cancel.cancel();
            ended += 1;
        }
        ended
    }

    /// Open connections by protocol: (protocol, devices, connections).
    pub fn counts(&self) -> Vec<(Protocol, usize, usize)> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(Protocol, usize, usize)> = Vec::new();
        for p in [Protocol::Imap, Protocol::Smtp, Protocol::Jmap] {
            let (mut devices, mut conns) = (0, 0);
            for v in open.values() {
                let n = v.iter().filter(|e| e.protocol == p).count();
                if n > 0 {
                    devices += 1;
                    conns += n;
                }
            }
            if conns > 0 {
                out.push((p, devices, conns));
            }
        }
        out
    }

    /// End the connections of devices revoked in the store, also by another process; checks
    /// every second while any connection is open, until `token` is cancelled.
    pub async fn watch_revocations(self: Arc<Self>, token: CancellationToken) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = token.cancelled() => return Ok(()),
                _ = tokio::time::sleep(REVOCATION_EVERY) => {}
            }
            let ids: Vec<i64> = self.open.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
            if ids.is_empty() {
                continue;
            }
            let store = self.store.clone();
            let revoked = tokio::task::spawn_blocking(move || store.devices().revoked_among(&ids)).await??;
            for d in revoked {
                // Logged once: until its listeners drop them, the ended connections are still
                // listed, and the device is found revoked again at every look.
                let n = self.revoke(d);
                if n > 0 {
                    tracing::info!(device = d, connections = n, "devices: a revoked device's connections were ended");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cap_revoke_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (_, store) = crate::devices::for_test(dir.path(), false);
        let dev = store.devices().add("becker", "iPhone", &[], "h1").unwrap();
        let other = store.devices().add("becker", "iPad", &[], "h2").unwrap();
        let live = Live::new(store.clone(), 2);
        let a = live.open(dev, Protocol::Imap).await.unwrap();
        let b = live.open(dev, Protocol::Smtp).await.unwrap();
        assert_eq!(live.open(dev, Protocol::Imap).await.unwrap_err(), TooMany { cap: 2 });
        let c = live.open(other, Protocol::Imap).await.unwrap();
        assert_eq!(live.counts(), vec![(Protocol::Imap, 2, 2), (Protocol::Smtp, 1, 1)]);
        assert_eq!(
            store.devices().connections().unwrap(),
            vec![("imap".to_string(), 2, 2), ("smtp".to_string(), 1, 1)]
        );

        // Revoked in the store (as `device revoke` does from another process): the watch ends
        // that device's connections and no other.
        let token = CancellationToken::new();
        let watch = tokio::spawn(live.clone().watch_revocations(token.clone()));
        assert!(store.devices().revoke(dev).unwrap());
        tokio::time::timeout(Duration::from_secs(5), a.ended()).await.expect("revocation ends the connection");
        assert!(b.is_ended() && !c.is_ended());
        // Ended once: the watch finds the device revoked again at every look while the
        // connections are still held, but there is nothing more to end (or to log).
        assert_eq!(live.revoke(dev), 0, "already ended");
        assert_eq!(live.revoke(other), 1);
        token.cancel();
        watch.await.unwrap().unwrap();

        // Closing frees the place and removes the row.
        drop((a, b));
        let d = live.open(other, Protocol::Smtp).await.unwrap();
        assert_eq!(live.counts(), vec![(Protocol::Imap, 1, 1), (Protocol::Smtp, 1, 1)]);
        drop((c, d));
        for _ in 0..100 {
            if store.devices().connections().unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("closed connections keep their rows");
    }
}
