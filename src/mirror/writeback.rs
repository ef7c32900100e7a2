//! Write-back of device changes to IMAP, from the durable queue in the store.
//!
//! Contract with the mirror: the per-mailbox IMAP task owns the connection and calls
//! [`drain`] before every sync pass, whenever its mailbox's write-back wake-up
//! (`App::wake_writeback`) fires, and when a refused change is due again ([`next_due`]), so a
//! change made on a phone reaches the server before the mirror looks at the server again. Each
//! queued op (UID STORE of pending keywords, UID MOVE, expunge, APPEND, CREATE/RENAME/DELETE,
//! SUBSCRIBE/UNSUBSCRIBE) is removed from the queue only after the server confirmed it; the
//! store then records what the server said (the new UID from COPYUID/APPENDUID, the end of a
//! tombstone, the confirmed keyword rows). The queue is run in order; an op that must wait for
//! an earlier one is passed over and the queue is read again as long as ops get done. A
//! connection failure ends the drain with [`WritebackError::Imap`] and keeps the op queued, so
//! an IMAP outage loses nothing (the mirror reconnects); a store failure is
//! [`WritebackError::Store`] (the mirror's task ends and the daemon restarts it). An op the
//! server refuses (a tagged NO or BAD, [`imap::Error::Refused`]) waits as the store's
//! [`RetrySchedule`] says (seconds, then minutes, then hours) and is given up, undone in the
//! store and logged when the schedule is used up: one bad item never blocks the queue, and a
//! burst of refusals cannot give a change up within seconds.
//! It speaks IMAP only through [`crate::imap`], never parses mail and never touches a
//! device-visible field itself: all of that is in `store::writeback`.

use crate::app::App;
use crate::imap::folder::wire_name;
use crate::imap::wire::{self, Done, SessionOf, Stream};
use crate::imap::{self, Error, Refusal, ServerProfile, Session};
use crate::store::writeback::{QueuedOp, Refused, WritebackEffect, WritebackOp};
pub use crate::store::writeback::{RetrySchedule, WritebackSummary as Summary};

#[derive(Debug, thiserror::Error)]
pub enum WritebackError {
    /// The connection failed: the op stays queued and the caller reconnects.
    #[error("write-back: {0}")]
    Imap(#[from] imap::Error),
    /// The store failed: the caller's task ends and is restarted.
    #[error("write-back: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// One command; `Ok(Err(refusal))` when the server said NO or BAD, `Err` when the connection
/// failed.
async fn command<S: Stream>(s: &mut SessionOf<S>, cmd: &str, what: &str) -> Result<Result<Done, Refusal>, Error> {
    split(wire::simple(s, cmd, what).await)
}

/// A command's outcome as `Ok(Err(refusal))` when the server said NO or BAD, `Err` when the
/// connection failed.
fn split(r: Result<Done, Error>) -> Result<Result<Done, Refusal>, Error> {
    match r {
        Ok(d) => Ok(Ok(d)),
        Err(Error::Refused { refusal, .. }) => Ok(Err(refusal)),
        Err(e) => Err(e),
    }
}

/// The session's selected folder, so consecutive ops on one folder select it once.
struct Selected(Option<String>);

impl Selected {
    async fn select<S: Stream>(&mut self, s: &mut SessionOf<S>, folder: &str) -> Result<Result<Done, Refusal>, Error> {
        if self.0.as_deref() == Some(folder) {
            return Ok(Ok(Done::default()));
        }
        self.0 = None;
        let o = command(s, &format!("SELECT {}", wire_name(folder)), &format!("SELECT {folder}")).await?;
        if o.is_ok() {
            self.0 = Some(folder.to_string());
        }
        Ok(o)
    }

    /// Leave the selected folder, if any (a refused UNSELECT changes nothing for us).
    async fn clear<S: Stream>(&mut self, s: &mut SessionOf<S>) -> Result<(), Error> {
        if self.0.take().is_some() {
            command(s, "UNSELECT", "UNSELECT").await?.ok();
        }
        Ok(())
    }
}

fn flag_list(flags: &[String]) -> String {
    flags.iter().map(|k| crate::store::messages::keyword_to_flag(k)).collect::<Vec<_>>().join(" ")
}

/// The new UID a UIDPLUS answer names, as the store's effect.
fn effect(d: Done) -> WritebackEffect {
    match d.new_uid {
        Some((v, u)) => WritebackEffect::NewUid { uidvalidity: v, uid: u },
        None => WritebackEffect::None,
    }
}

/// Carry out one op; Ok(Err(text)) when the server refused it.
async fn perform<S: Stream>(
    s: &mut SessionOf<S>,
    profile: &ServerProfile,
    sel: &mut Selected,
    op: &WritebackOp,
) -> Result<Result<WritebackEffect, String>, Error> {
    // `?` on the outer result is a broken connection; `try_ok!` stops at a refusal.
    macro_rules! try_ok {
        ($e:expr) => {
            match $e.await? {
                Ok(d) => d,
                Err(r) => return Ok(Err(r.to_string())),
            }
        };
    }
    match op {
        WritebackOp::Obsolete | WritebackOp::Wait => Ok(Ok(WritebackEffect::None)),
        WritebackOp::Flags { folder, uid, add, remove, .. } => {
            try_ok!(sel.select(s, folder));
            for (sign, list) in [("+", add), ("-", remove)] {
                if list.is_empty() {
                    continue;
                }
                let cmd = format!("UID STORE {uid} {sign}FLAGS.SILENT ({})", flag_list(list));
                try_ok!(command(s, &cmd, &format!("UID STORE {folder}")));
            }
            Ok(Ok(WritebackEffect::None))
        }
        WritebackOp::Move { from, uid, to, .. } => {
            try_ok!(sel.select(s, from));
            let d = try_ok!(command(s, &format!("UID MOVE {uid} {}", wire_name(to)), &format!("UID MOVE {from}")));
            Ok(Ok(effect(d)))
        }
        WritebackOp::Expunge { folder, uid, .. } => {
            try_ok!(sel.select(s, folder));
            try_ok!(command(s, &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"), &format!("UID STORE {folder}")));
            try_ok!(command(s, &format!("UID EXPUNGE {uid}"), &format!("UID EXPUNGE {folder}")));
            Ok(Ok(WritebackEffect::None))
        }
        WritebackOp::Append { folder, flags, raw, internal_date, .. } => {
            // Select the folder afresh for the next op on it, so its view has the new message.
            if sel.0.as_deref() == Some(folder) {
                sel.0 = None;
            }
            let appended = imap::append::append_one(s, folder, &flags.join(" "), Some(*internal_date), raw).await;
            Ok(split(appended)?.map(effect).map_err(|r| r.to_string()))
        }
        WritebackOp::Create { name } => {
            match command(s, &format!("CREATE {}", wire_name(name)), &format!("CREATE {name}")).await? {
                Ok(_) => Ok(Ok(WritebackEffect::None)),
                // A folder that exists already is what we wanted.
                Err(r) if profile.already_exists(&r) => Ok(Ok(WritebackEffect::None)),
                Err(r) => Ok(Err(r.to_string())),
            }
        }
        WritebackOp::Subscribe { name, on, .. } => {
            let verb = if *on { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
            try_ok!(command(s, &format!("{verb} {}", wire_name(name)), &format!("{verb} {name}")));
            Ok(Ok(WritebackEffect::None))
        }
        WritebackOp::Rename { from, to } => {
            sel.clear(s).await?;
            let cmd = format!("RENAME {} {}", wire_name(from), wire_name(to));
            try_ok!(command(s, &cmd, &format!("RENAME {from}")));
            Ok(Ok(WritebackEffect::None))
        }
        WritebackOp::Delete { name, .. } => {
            sel.clear(s).await?;
            match command(s, &format!("DELETE {}", wire_name(name)), &format!("DELETE {name}")).await? {
                Ok(_) => Ok(Ok(WritebackEffect::None)),
                // A folder that is gone already is what we wanted.
                Err(r) if profile.nonexistent(&r) => Ok(Ok(WritebackEffect::None)),
                Err(r) => Ok(Err(r.to_string())),
            }
        }
    }
}

/// The phone changes of one mailbox waiting for the server, and those it refused for good: what
/// `status` shows. The queue is the store's, so its summary is the store's type.
pub fn status(app: &App, mailbox: &str) -> Result<Summary, crate::store::StoreError> {
    app.store.writeback().summary(mailbox)
}

/// Write this mailbox's pending device changes to the server. Returns how many were done.
/// [`WritebackError::Imap`] means the connection is unusable (pending changes stay queued);
/// [`WritebackError::Store`] that the store failed.
pub async fn drain(app: &App, mailbox: &str, session: &mut Session) -> Result<usize, WritebackError> {
    let profile = ServerProfile::default();
    drain_with(app, mailbox, session, &profile).await
}

/// [`drain`] with what the session learned about its server.
pub async fn drain_with<S: Stream>(
    app: &App,
    mailbox: &str,
    session: &mut SessionOf<S>,
    profile: &ServerProfile,
) -> Result<usize, WritebackError> {
    drain_scheduled(app, mailbox, session, profile, &RetrySchedule::standard()).await
}

/// [`drain_with`] with the waits between refusals given (tests shorten them).
pub async fn drain_scheduled<S: Stream>(
    app: &App,
    mailbox: &str,
    session: &mut SessionOf<S>,
    profile: &ServerProfile,
    schedule: &RetrySchedule,
) -> Result<usize, WritebackError> {
    let mut done = 0;
    let mut sel = Selected(None);
    loop {
        // One run over the queue in id order; ops queued meanwhile are picked up too.
        let (mut progress, mut waiting, mut after) = (false, false, 0);
        while let Some(q) = app.store.writeback().next(mailbox, after)? {
            after = q.id;
            if q.op == WritebackOp::Wait {
                waiting = true;
                continue;
            }
            match perform(session, profile, &mut sel, &q.op).await? {
                Ok(effect) => {
                    // An original moved here by Email/copy waits in its account for this APPEND.
                    let waiting = app.store.writeback().waiting_for(q.id)?;
                    app.store.writeback().done(mailbox, &q, effect)?;
                    for other in waiting {
                        app.wake_writeback(&other);
                    }
                    if !matches!(q.op, WritebackOp::Obsolete) {
                        done += 1;
                    }
                    progress = true;
                }
                Err(text) => refused(app, mailbox, &q, &text, schedule)?,
            }
        }
        // An op passed over may have waited for one done after it was passed: run again.
        if !(progress && waiting) {
            break;
        }
    }
    // Leave no folder selected: the mirror selects what it needs itself.
    let _ = sel.clear(session).await;
    if done > 0 {
        tracing::debug!(mailbox, done, "write-back: changes written to IMAP");
    }
    Ok(done)
}

/// Read the server's subscriptions (LSUB) into the store, so that a folder subscribed or
/// unsubscribed in webmail shows so on the phone; a phone's own change still waiting for the
/// server is kept. The mirror's pass calls it whenever it lists the folders.
pub async fn read_subscriptions<S: Stream>(
    app: &App,
    mailbox: &str,
    session: &mut SessionOf<S>,
) -> Result<usize, WritebackError> {
    let names = imap::roles::subscribed(session).await?;
    Ok(app.store.folders().set_subscriptions(mailbox, &names)?)
}

/// How long until a refused change of `mailbox` is due again, if one waits: counted from when
/// the last drain began (`drained_at`, unix seconds), so a change that fell due during the
/// pass after it gives no wait at all (see `Writeback::next_due`).
pub fn next_due(
    app: &App,
    mailbox: &str,
    drained_at: i64,
) -> Result<Option<std::time::Duration>, crate::store::StoreError> {
    let now = crate::store::now();
    Ok(app
        .store
        .writeback()
        .next_due(mailbox, drained_at)?
        .map(|t| std::time::Duration::from_secs(t.saturating_sub(now).max(0) as u64)))
}

fn refused(app: &App, mailbox: &str, q: &QueuedOp, text: &str, schedule: &RetrySchedule) -> Result<(), WritebackError> {
    match app.store.writeback().refused(q, kind(&q.op), text, schedule)? {
        Refused::GaveUp(undone) => tracing::warn!(
            mailbox, op = kind(&q.op), attempts = q.attempts + 1, error = text, undone = %undone,
            "write-back: the server refused a change repeatedly; gave it up"
        ),
        Refused::Withdrawn => tracing::debug!(
            mailbox,
            op = kind(&q.op),
            error = text,
            "write-back: the server refused a change withdrawn meanwhile"
        ),
        Refused::RetryAt(at) => tracing::info!(
            mailbox,
            op = kind(&q.op),
            attempts = q.attempts + 1,
            error = text,
            retry_in_s = at - crate::store::now(),
            "write-back: the server refused a change; will retry"
        ),
    }
    Ok(())
}

fn kind(op: &WritebackOp) -> &'static str {
    match op {
        WritebackOp::Flags { .. } => "store flags",
        WritebackOp::Move { .. } => "move",
        WritebackOp::Expunge { .. } => "expunge",
        WritebackOp::Append { .. } => "append",
        WritebackOp::Create { .. } => "create folder",
        WritebackOp::Rename { .. } => "rename folder",
        WritebackOp::Delete { .. } => "delete folder",
        WritebackOp::Subscribe { on: true, .. } => "subscribe folder",
        WritebackOp::Subscribe { on: false, .. } => "unsubscribe folder",
        WritebackOp::Obsolete => "obsolete",
        WritebackOp::Wait => "waiting",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::script::{self, step};
    use crate::mirror::SyncError;

    fn app(dir: &std::path::Path) -> App {
        crate::app::for_test(dir, false)
    }

    /// Regression: a store failure during the write-back used to become a string and a
    /// reconnect. It is a store error, which ends the mirror's task (the daemon restarts it).
    #[tokio::test]
    async fn a_store_failure_is_a_store_error_not_a_reconnect() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        // Break the store under the app: its queue table is gone.
        let raw = rusqlite::Connection::open(app.config.store_path()).unwrap();
        raw.execute_batch("ALTER TABLE writeback_op RENAME TO writeback_op_gone").unwrap();
        let (mut s, server) = script::serve(vec![]).await;
        let e = drain_with(&app, "becker", &mut s, &ServerProfile::default()).await.unwrap_err();
        assert!(matches!(e, WritebackError::Store(_)), "{e}");
        assert!(matches!(SyncError::from(e), SyncError::Store(_)), "the mirror's task ends instead of reconnecting");
        s.logout().await.unwrap();
        server.await.unwrap();
    }

    /// A connection that breaks mid-op is an IMAP error (reconnect) and keeps the op queued; a
    /// CREATE the server refuses because the folder exists is done.
    #[tokio::test]
    async fn a_broken_connection_is_an_imap_error_and_keeps_the_op() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        app.store.mailboxes().create("becker", "Kunden").unwrap().unwrap();
        assert_eq!(app.store.writeback().pending("becker").unwrap(), 2, "CREATE and SUBSCRIBE");

        let (mut s, server) = script::serve(vec![step("CREATE \"Kunden\"", &["<close>"])]).await;
        let e = drain_with(&app, "becker", &mut s, &ServerProfile::default()).await.unwrap_err();
        assert!(matches!(e, WritebackError::Imap(imap::Error::Io { .. })), "{e}");
        assert!(matches!(SyncError::from(e), SyncError::Imap(_)), "the mirror reconnects");
        assert_eq!(app.store.writeback().pending("becker").unwrap(), 2, "the ops wait for the next connection");
        server.await.unwrap();

        let (mut s, server) = script::serve(vec![
            step("CREATE \"Kunden\"", &["{tag} NO [ALREADYEXISTS] Mailbox already exists"]),
            step("SUBSCRIBE \"Kunden\"", &["{tag} OK done"]),
        ])
        .await;
        assert_eq!(drain_with(&app, "becker", &mut s, &ServerProfile::default()).await.unwrap(), 2);
        assert_eq!(app.store.writeback().pending("becker").unwrap(), 0);
        s.logout().await.unwrap();
        server.await.unwrap();
    }
}
