//! The IMAP mirror: one task per mailbox keeps the store a copy of the hosted server's folders.
//!
//! It speaks IMAP only through [`crate::imap`]. `folders` maps the config's folder list onto the
//! server's (roles come from `imap::roles`), `plan` decides per folder what to fetch (pure,
//! table-tested), `pass` carries a plan out batch by batch, `report` says what a pass did, and
//! `writeback` writes a phone's changes to the server on the same session, before each pass
//! (the mirror drives it). This file holds the two entry points: [`sync_once`] for
//! `postbote sync --once`, and [`run`], the daemon task, which syncs, then IDLEs on INBOX and
//! wakes for new mail, the poll schedule, a device's change waiting for write-back (new, or
//! refused and due again), or shutdown. Whenever a pass lists the folders, the server's
//! subscriptions (LSUB) are read too. It reconnects with backoff; a refused login is retried
//! only every [`AUTH_RETRY`], so a wrong password never locks the account or spins.
//!
//! The mirror never sends mail and never changes the server (folders are EXAMINEd); the
//! write-back does that. A store failure ends the task (the daemon restarts it); an IMAP
//! failure, in the pass or in the write-back, reconnects. Credentials are never logged:
//! commands are named in errors, never quoted.

pub mod folders;
pub mod pass;
pub mod plan;
pub mod report;
pub mod writeback;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Mailbox;
use crate::imap::{self, Session};
use crate::store::StoreError;
pub use pass::{Mirror, PassOptions};
pub use report::Report;

/// A refused login is tried again after this long (or when the daemon restarts).
pub const AUTH_RETRY: Duration = Duration::from_secs(15 * 60);
/// IDLE is renewed this often (RFC 2177 asks for less than 30 minutes).
pub const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Anything IMAP: the task reconnects (after [`AUTH_RETRY`] for a refused login).
    #[error(transparent)]
    Imap(#[from] imap::Error),
    /// The server refused STATUS or EXAMINE of a mirrored folder: it may be gone.
    #[error("{0}")]
    FolderRefused(imap::Error),
    /// The store failed: the task ends and the daemon restarts it.
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("store batch: {0}")]
    Batch(String),
    #[error("no mailbox \"{0}\" in the config")]
    NoMailbox(String),
    #[error("agent.poll: {0}")]
    Schedule(String),
    #[error("cancelled")]
    Cancelled,
}

impl SyncError {
    pub fn is_auth(&self) -> bool {
        matches!(self, SyncError::Imap(e) if e.is_auth())
    }
}

impl From<writeback::WritebackError> for SyncError {
    fn from(e: writeback::WritebackError) -> Self {
        match e {
            writeback::WritebackError::Imap(e) => SyncError::Imap(e),
            writeback::WritebackError::Store(e) => SyncError::Store(e),
        }
    }
}

/// Sync every configured folder of `mailbox` once, recording the outcome for `status`.
pub async fn sync_once(app: &App, mailbox: &str, progress: bool) -> anyhow::Result<Report> {
    Ok(sync_once_inner(app, mailbox, progress).await?)
}

async fn sync_once_inner(app: &App, mailbox: &str, progress: bool) -> Result<Report, SyncError> {
    let mb = app.config.mailbox(mailbox).ok_or_else(|| SyncError::NoMailbox(mailbox.to_string()))?.clone();
    let r = async {
        let mut s = imap::connect(&app.config, &mb).await?;
        let mut m = Mirror::prepare(app, &mb, &mut s).await?;
        writeback::drain_with(app, &mb.id, &mut s, &m.profile).await?;
        // The pass lists the folders (and reads the subscriptions) first: nothing is discovered yet.
        let report = m.pass(&mut s, PassOptions { cancel: None, progress }).await?;
        let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
        Ok::<_, SyncError>(report)
    }
    .await;
    record(app, &mb.id, &r)?;
    r
}

/// Write the outcome of a pass where `status` shows it.
fn record<T>(app: &App, id: &str, r: &Result<T, SyncError>) -> Result<(), SyncError> {
    match r {
        Ok(_) => app.store.sync_state().record_ok(id)?,
        Err(SyncError::Cancelled) => {}
        Err(e) => app.store.sync_state().record_error(id, &e.to_string(), e.is_auth())?,
    }
    Ok(())
}

/// The daemon task for one mailbox. Returns Ok when `token` is cancelled (after the batch in
/// flight committed); Err only when the store fails (the daemon restarts the task).
pub async fn run(app: App, mailbox: String, token: CancellationToken) -> anyhow::Result<()> {
    let mb = app.config.mailbox(&mailbox).ok_or_else(|| SyncError::NoMailbox(mailbox.clone()))?.clone();
    let cron = crate::config::parse_cron(&app.config.agent.poll).map_err(SyncError::Schedule)?;
    let mut backoff = BACKOFF_FIRST;
    loop {
        if token.is_cancelled() {
            return Ok(());
        }
        let mut synced = false;
        let r = connected(&app, &mb, &cron, &token, &mut synced).await;
        if synced {
            backoff = BACKOFF_FIRST;
        }
        let e = match r {
            Ok(()) | Err(SyncError::Cancelled) => return Ok(()),
            Err(SyncError::Store(e)) => return Err(e.into()),
            Err(e) => e,
        };
        let auth = e.is_auth();
        app.store.sync_state().record_error(&mb.id, &e.to_string(), auth)?;
        let wait = if auth { AUTH_RETRY } else { backoff };
        if auth {
            tracing::error!(mailbox = %mb.id, error = %e, retry_in_s = wait.as_secs(), "login refused; check the password");
        } else {
            tracing::warn!(mailbox = %mb.id, error = %e, retry_in_s = wait.as_secs(), "IMAP sync failed; reconnecting");
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Why the task left IDLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Server,
    Schedule,
    Writeback,
    Renew,
    Cancelled,
}

/// One connection's life: sync, wait, sync, ... until an error or cancellation.
async fn connected(
    app: &App,
    mb: &Mailbox,
    cron: &croner::Cron,
    token: &CancellationToken,
    synced: &mut bool,
) -> Result<(), SyncError> {
    let mut s = tokio::select! {
        r = imap::connect(&app.config, mb) => r?,
        _ = token.cancelled() => return Ok(()),
    };
    // ENABLE first (it must precede any SELECT). Each round then writes a phone's queued
    // changes back before the pass, whose first step on a new connection is the folder list,
    // so that list already sees the phone's folder changes.
    let mut m = tokio::select! {
        r = Mirror::prepare(app, mb, &mut s) => r?,
        _ = token.cancelled() => return Ok(()),
    };
    tracing::info!(mailbox = %mb.id, "connected");
    loop {
        // A refused change that falls due after this drain began wakes the task (at once if it
        // fell due during the pass).
        let drained_at = crate::store::now();
        writeback::drain_with(app, &mb.id, &mut s, &m.profile).await?;
        while s.unsolicited_responses.try_recv().is_ok() {}
        let report = m.pass(&mut s, PassOptions { cancel: Some(token), progress: false }).await?;
        app.store.sync_state().record_ok(&mb.id)?;
        *synced = true;
        tracing::debug!(mailbox = %mb.id, %report, "pass done");
        if token.is_cancelled() {
            let _ = tokio::time::timeout(Duration::from_secs(2), s.logout()).await;
            return Ok(());
        }
        let next_poll = next_poll(cron, app.config.agent.time_zone)?;
        let settled = report.folders.iter().all(|f| f.missing == 0);
        let wake;
        (s, wake) = wait(&m, s, next_poll, settled, drained_at, app, token).await?;
        tracing::debug!(mailbox = %mb.id, ?wake, "awake");
        if wake == Wake::Cancelled {
            let _ = tokio::time::timeout(Duration::from_secs(2), s.logout()).await;
            return Ok(());
        }
        // Any other wake-up: the next pass (after the write-back) lists the folders again
        // when that is due.
    }
}

/// How long until the poll schedule's next run.
fn next_poll(cron: &croner::Cron, tz: chrono_tz::Tz) -> Result<Duration, SyncError> {
    let now = chrono::Utc::now().with_timezone(&tz);
    let next = cron.find_next_occurrence(&now, false).map_err(|e| SyncError::Schedule(e.to_string()))?;
    Ok((next - now).to_std().unwrap_or(Duration::from_secs(1)))
}

/// Wait for the next reason to sync: IDLE on INBOX where the server offers it, otherwise
/// just the schedule, the write-back wake-up and cancellation. Mail that arrived between the
/// pass and the start of IDLE is noticed at once (`settled`: the pass left nothing to retry,
/// so a difference between the server and the store is news).
async fn wait(
    m: &Mirror,
    mut s: Session,
    until: Duration,
    settled: bool,
    drained_at: i64,
    app: &App,
    token: &CancellationToken,
) -> Result<(Session, Wake), SyncError> {
    let deadline = tokio::time::Instant::now() + until;
    let wb = app.writeback_notify(m.account());
    // A phone change the server refused is tried again when it is due.
    let retry = tokio::time::Instant::now() + writeback::next_due(app, m.account(), drained_at)?.unwrap_or(until);
    let Some(inbox) = m.idle_folder().filter(|_| m.profile.idle).map(str::to_string) else {
        let wake = tokio::select! {
            _ = token.cancelled() => Wake::Cancelled,
            _ = tokio::time::sleep_until(deadline) => Wake::Schedule,
            _ = wb.notified() => Wake::Writeback,
            _ = tokio::time::sleep_until(retry) => Wake::Writeback,
        };
        return Ok((s, wake));
    };
    let sv = m.examine(&mut s, &inbox, "INBOX").await?;
    if settled && let Some(f) = m.folders.iter().find(|f| f.wire == inbox) {
        let row = app.store.folders().by_name(&f.folder.account, &f.folder.name)?;
        if let Some(row) = row
            && (row.uidvalidity != Some(sv.uidvalidity)
                || (sv.uidnext.is_some() && row.uidnext != sv.uidnext)
                || (sv.highestmodseq.is_some() && row.highestmodseq != sv.highestmodseq))
        {
            return Ok((s, Wake::Server));
        }
    }
    let mut idle = imap::idle::start(s).await?;
    let wake = tokio::select! {
        r = idle.wait(IDLE_RENEW) => match r? {
            imap::idle::Woke::Server => Wake::Server,
            imap::idle::Woke::Timeout => Wake::Renew,
        },
        _ = token.cancelled() => Wake::Cancelled,
        _ = tokio::time::sleep_until(deadline) => Wake::Schedule,
        _ = wb.notified() => Wake::Writeback,
        _ = tokio::time::sleep_until(retry) => Wake::Writeback,
    };
    let s = idle.done().await?;
    Ok((s, wake))
}
