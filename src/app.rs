//! What every long-running task of the daemon shares: the validated config, the store, the
//! wake-ups that let one task tell another "there is work" without polling, the devices'
//! open connections (`crate::devices::Live`), and the one failed-login limiter
//! (`crate::devices::Logins`) that every listener taking device tokens checks through, so an
//! attacker has one budget per address and per credential, not one per port and protocol.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::devices::{Live, Logins};
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    /// Something was queued or the office-session gate opened: the outbox should look now.
    pub outbox_wake: Arc<Notify>,
    /// Per mailbox: a device (or the outbox) queued a change that must be written back to
    /// IMAP. One per mailbox, since `notify_one` wakes a single waiting task: with one shared
    /// for all, another mailbox's task could take the wake-up.
    writeback_wake: Arc<HashMap<String, Arc<Notify>>>,
    /// The devices' open IMAP and SMTP connections: the cap, and their end on revocation.
    pub live: Arc<Live>,
    /// The failed-login limiter and credential check of every listener (JMAP, IMAP, SMTP
    /// submission): wrong credentials on one count on all.
    pub logins: Arc<Logins>,
}

impl App {
    pub fn new(config: Arc<Config>, store: Store) -> App {
        let writeback_wake = config.mailboxes.iter().map(|m| (m.id.clone(), Arc::new(Notify::new()))).collect();
        let live = Live::new(store.clone(), config.phones.max_connections_per_device);
        App {
            config,
            store,
            outbox_wake: Arc::new(Notify::new()),
            writeback_wake: Arc::new(writeback_wake),
            live,
            logins: Arc::new(Logins::default()),
        }
    }

    /// Tell `mailbox`'s IMAP task that write-back work is queued.
    pub fn wake_writeback(&self, mailbox: &str) {
        if let Some(n) = self.writeback_wake.get(mailbox) {
            n.notify_one();
        }
    }

    /// What `mailbox`'s IMAP task waits on for write-back work (a fresh one for an unknown id).
    pub fn writeback_notify(&self, mailbox: &str) -> Arc<Notify> {
        self.writeback_wake.get(mailbox).cloned().unwrap_or_default()
    }
}

/// Unit tests' app: the mailbox "becker" (and "info", a shared one, when `with_info`), with
/// its config, password file and store in `dir`, and their account rows.
#[cfg(test)]
pub(crate) fn for_test(dir: &std::path::Path, with_info: bool) -> App {
    let (config, store) = crate::devices::for_test(dir, with_info);
    App::new(Arc::new(config), store)
}

/// The rhythm of a daemon task that looks again whenever the store changes, and at least
/// every `period`: `drain` at the top of a round (one round covers every change so far), then
/// `wait` for the next change, tick or cancellation.
pub struct Rounds {
    changes: tokio::sync::broadcast::Receiver<crate::store::StateChange>,
    tick: tokio::time::Interval,
}

impl Rounds {
    pub fn new(app: &App, period: std::time::Duration) -> Rounds {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Rounds { changes: app.store.subscribe(), tick }
    }

    /// Forget the changes seen so far: the round about to run covers them.
    pub fn drain(&mut self) {
        while self.changes.try_recv().is_ok() {}
    }

    /// Wait for the next change or tick; false when the task should end (cancelled, or the
    /// store's broadcast closed).
    pub async fn wait(&mut self, token: &tokio_util::sync::CancellationToken) -> bool {
        tokio::select! {
            _ = token.cancelled() => false,
            r = self.changes.recv() => !matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)),
            _ = self.tick.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_mailbox_has_its_own_write_back_wake_up() {
        let dir = tempfile::tempdir().unwrap();
        let app = super::for_test(dir.path(), true);
        let (b, i) = (app.writeback_notify("becker"), app.writeback_notify("info"));
        assert!(!std::sync::Arc::ptr_eq(&b, &i));
        app.wake_writeback("info");
        // The permit went to info's wake-up only.
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(50), i.notified()).await.expect("info woke");
            assert!(tokio::time::timeout(std::time::Duration::from_millis(50), b.notified()).await.is_err());
        });
    }
}
