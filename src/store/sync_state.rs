//! The sync_state table: per account, when the mirror last synced and why it last failed.
//!
//! What `status` shows about the mirror. An error message stored here must not contain a
//! secret. Reached as `store.sync_state()`.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Result, Store, now};

#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncStatus {
    pub last_sync_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub auth_failed: bool,
}

/// The sync_state table, reached as `store.sync_state()`.
#[derive(Clone, Copy)]
pub struct SyncState<'a>(&'a Store);

impl Store {
    /// The mirror's last success and failure per account.
    pub fn sync_state(&self) -> SyncState<'_> {
        SyncState(self)
    }
}

impl SyncState<'_> {
    pub fn record_ok(&self, account: &str) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute(
                "UPDATE sync_state SET last_sync_at = ?2, last_error = NULL, last_error_at = NULL, auth_failed = 0 WHERE account = ?1",
                params![account, now()],
            )?;
            Ok(())
        })
    }

    /// Record why the last sync failed (shown by `status`). The message must not contain secrets.
    pub fn record_error(&self, account: &str, error: &str, auth_failed: bool) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute(
                "UPDATE sync_state SET last_error = ?2, last_error_at = ?3, auth_failed = ?4 WHERE account = ?1",
                params![account, error, now(), auth_failed],
            )?;
            Ok(())
        })
    }

    pub fn status(&self, account: &str) -> Result<SyncStatus> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT last_sync_at, last_error, last_error_at, auth_failed FROM sync_state WHERE account = ?1",
                [account],
                |r| {
                    Ok(SyncStatus {
                        last_sync_at: r.get(0)?,
                        last_error: r.get(1)?,
                        last_error_at: r.get(2)?,
                        auth_failed: r.get(3)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
        })
    }
}
