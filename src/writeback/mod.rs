//! Write-back of device changes to IMAP (being written in this session).
//!
//! Contract with `imap_sync`: the per-mailbox IMAP task owns the connection and calls
//! [`drain`] before every sync pass and whenever `App::writeback_wake` fires, so a change made
//! on a phone reaches the server before the mirror looks at the server again.

use crate::app::App;
use crate::imap_sync::conn::ImapSession;

/// Write this mailbox's pending device changes to the server. Returns how many were done.
/// An error means the connection is unusable; pending changes stay queued.
pub async fn drain(_app: &App, _mailbox: &str, _session: &mut ImapSession) -> anyhow::Result<usize> {
    Ok(0)
}
