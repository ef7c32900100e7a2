//! What every long-running task of the daemon shares: the validated config, the store, and
//! the wake-ups that let one task tell another "there is work" without polling.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    /// Something was queued or the office-session gate opened: the outbox should look now.
    pub outbox_wake: Arc<Notify>,
    /// A device changed something that must be written back to IMAP.
    pub writeback_wake: Arc<Notify>,
}

impl App {
    pub fn new(config: Arc<Config>, store: Store) -> App {
        App { config, store, outbox_wake: Arc::new(Notify::new()), writeback_wake: Arc::new(Notify::new()) }
    }
}
