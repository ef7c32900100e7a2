//! Write-back of device changes to IMAP, from the durable queue in the store.
//!
//! Contract with `imap_sync`: the per-mailbox IMAP task owns the connection and calls
//! [`drain`] before every sync pass and whenever its mailbox's write-back wake-up (`App::wake_writeback`) fires, so a change made
//! on a phone reaches the server before the mirror looks at the server again. Each queued op
//! (UID STORE of pending keywords, UID MOVE, expunge, APPEND, CREATE/RENAME/DELETE) is removed
//! from the queue only after the server confirmed it; the store then records what the server
//! said (the new UID from COPYUID/APPENDUID, the end of a tombstone, the confirmed keyword
//! rows). A connection failure ends the drain with an error and keeps the op queued, so an
//! IMAP outage loses nothing. An op the server refuses is retried on later drains and dropped
//! (with a warning) after a few refusals: one bad item never blocks the queue.
//! This module never parses mail and never touches a device-visible field itself: all of that
//! is in `store::writeback`.

use std::time::Duration;

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{Response, ResponseCode, Status};

use crate::app::App;
use crate::imap_sync::conn::ImapSession;
use crate::imap_sync::wire::{mutf7, quote};
use crate::store::writeback::QueuedOp;
use crate::store::writeback::WritebackEffect;
use crate::store::writeback::WritebackOp;
use crate::store::writeback::WritebackSummary;

/// After this many refusals an op is dropped.
const GIVE_UP_AFTER: i64 = 5;
/// How long one read may wait for the server.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum WritebackError {
    #[error("write-back {what}: {message}")]
    Io { what: String, message: String },
    #[error("write-back: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// How a command ended, with the UIDPLUS codes it carried.
#[derive(Debug, Default)]
struct Outcome {
    ok: bool,
    text: String,
    /// (uidvalidity, uid) from APPENDUID, or the destination of a one-message COPYUID.
    new_uid: Option<(u32, u32)>,
}

fn first_uid(set: &[UidSetMember]) -> Option<u32> {
    match set.first()? {
        UidSetMember::Uid(u) => Some(*u),
        UidSetMember::UidRange(r) => Some(*r.start()),
    }
}

fn note_code(code: &Option<ResponseCode<'_>>, out: &mut Outcome) {
    match code {
        Some(ResponseCode::AppendUid(v, set)) => out.new_uid = first_uid(set).map(|u| (*v, u)),
        Some(ResponseCode::CopyUid(v, _, dst)) => out.new_uid = first_uid(dst).map(|u| (*v, u)),
        _ => {}
    }
}

/// The next response, handed to `f` (the crate does not export its response type, so the
/// response is lent rather than returned).
async fn next<R>(s: &mut ImapSession, what: &str, f: impl FnOnce(&Response<'_>) -> R) -> Result<R, WritebackError> {
    match tokio::time::timeout(READ_TIMEOUT, s.read_response()).await {
        Err(_) => Err(WritebackError::Io {
            what: what.into(),
            message: format!("no answer within {}s", READ_TIMEOUT.as_secs()),
        }),
        Ok(Err(e)) => Err(WritebackError::Io { what: what.into(), message: e.to_string() }),
        Ok(Ok(None)) => {
            Err(WritebackError::Io { what: what.into(), message: "the server closed the connection".into() })
        }
        Ok(Ok(Some(r))) => Ok(f(r.parsed())),
    }
}

/// Read until the tagged answer of `tag`.
async fn finish(
    s: &mut ImapSession,
    tag: &async_imap::imap_proto::RequestId,
    what: &str,
) -> Result<Outcome, WritebackError> {
    let mut out = Outcome::default();
    loop {
        let done = next(s, what, |r| match r {
            Response::Done { tag: t, status, outcome, .. } if t == tag => {
                note_code(&outcome.code, &mut out);
                out.ok = matches!(status, Status::Ok);
                out.text = outcome.information.as_deref().unwrap_or("(no reason given)").to_string();
                true
            }
            Response::Data { status: Status::Ok, outcome, .. } => {
                note_code(&outcome.code, &mut out);
                false
            }
            _ => false,
        })
        .await?;
        if done {
            return Ok(out);
        }
    }
}

/// Run one command (no literal) and read its answer.
async fn command(s: &mut ImapSession, cmd: &str, what: &str) -> Result<Outcome, WritebackError> {
    let tag = s.run_command(cmd).await.map_err(|e| WritebackError::Io { what: what.into(), message: e.to_string() })?;
    finish(s, &tag, what).await
}

/// APPEND with a synchronizing literal.
async fn append(
    s: &mut ImapSession,
    folder: &str,
    flags: &[String],
    date: i64,
    raw: &[u8],
) -> Result<Outcome, WritebackError> {
    use tokio::io::AsyncWriteExt;
    let what = format!("APPEND {folder}");
    let date = chrono::DateTime::from_timestamp(date, 0)
        .map(|d| format!(" \"{}\"", d.format("%d-%b-%Y %H:%M:%S +0000")))
        .unwrap_or_default();
    let cmd = format!("APPEND {} ({}){date} {{{}}}", quote(&mutf7::encode(folder)), flags.join(" "), raw.len());
    let tag =
        s.run_command(&cmd).await.map_err(|e| WritebackError::Io { what: what.clone(), message: e.to_string() })?;
    // The server answers the literal's announcement with a continuation, or refuses at once
    // (untagged responses about the selected folder may come first).
    loop {
        let early = next(s, &what, |r| match r {
            Response::Continue { .. } => Some(None),
            Response::Done { tag: t, status, outcome, .. } if *t == tag => Some(Some(Outcome {
                ok: matches!(status, Status::Ok),
                text: outcome.information.as_deref().unwrap_or("").to_string(),
                new_uid: None,
            })),
            _ => None,
        })
        .await?;
        match early {
            Some(None) => break,
            Some(Some(o)) => return Ok(o),
            None => continue,
        }
    }
    let io = |e: std::io::Error| WritebackError::Io { what: what.clone(), message: e.to_string() };
    let stream = s.get_mut();
    stream.write_all(raw).await.map_err(io)?;
    stream.write_all(b"\r\n").await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    finish(s, &tag, &what).await
}

/// The session's selected folder, so consecutive ops on one folder select it once.
struct Selected(Option<String>);

impl Selected {
    async fn select(&mut self, s: &mut ImapSession, folder: &str) -> Result<Outcome, WritebackError> {
        if self.0.as_deref() == Some(folder) {
            return Ok(Outcome { ok: true, ..Default::default() });
        }
        self.0 = None;
        let o = command(s, &format!("SELECT {}", quote(&mutf7::encode(folder))), &format!("SELECT {folder}")).await?;
        if o.ok {
            self.0 = Some(folder.to_string());
        }
        Ok(o)
    }
}

fn flag_list(flags: &[String]) -> String {
    flags.iter().map(|k| crate::store::messages::keyword_to_flag(k)).collect::<Vec<_>>().join(" ")
}

/// Carry out one op; Ok(Err(text)) when the server refused it.
async fn perform(
    s: &mut ImapSession,
    sel: &mut Selected,
    op: &WritebackOp,
) -> Result<Result<WritebackEffect, String>, WritebackError> {
    let refused = |o: Outcome| Err(o.text);
    match op {
        WritebackOp::Obsolete | WritebackOp::Wait => Ok(Ok(WritebackEffect::None)),
        WritebackOp::Flags { folder, uid, add, remove, .. } => {
            let o = sel.select(s, folder).await?;
            if !o.ok {
                return Ok(refused(o));
            }
            for (sign, list) in [("+", add), ("-", remove)] {
                if list.is_empty() {
                    continue;
                }
                let o = command(
                    s,
                    &format!("UID STORE {uid} {sign}FLAGS.SILENT ({})", flag_list(list)),
                    &format!("UID STORE {folder}"),
                )
                .await?;
                if !o.ok {
                    return Ok(refused(o));
                }
            }
            Ok(Ok(WritebackEffect::None))
        }
        WritebackOp::Move { from, uid, to, .. } => {
            let o = sel.select(s, from).await?;
            if !o.ok {
                return Ok(refused(o));
            }
            let o = command(s, &format!("UID MOVE {uid} {}", quote(&mutf7::encode(to))), &format!("UID MOVE {from}"))
                .await?;
            if !o.ok {
                return Ok(refused(o));
            }
            Ok(Ok(match o.new_uid {
                Some((v, u)) => WritebackEffect::NewUid { uidvalidity: v, uid: u },
                None => WritebackEffect::None,
            }))
        }
        WritebackOp::Expunge { folder, uid, .. } => {
            let o = sel.select(s, folder).await?;
            if !o.ok {
                return Ok(refused(o));
            }
            let o = command(s, &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"), &format!("UID STORE {folder}"))
                .await?;
            if !o.ok {
                return Ok(refused(o));
            }
            let o = command(s, &format!("UID EXPUNGE {uid}"), &format!("UID EXPUNGE {folder}")).await?;
            if !o.ok {
                return Ok(refused(o));
            }
            Ok(Ok(WritebackEffect::None))
        }
        WritebackOp::Append { folder, flags, raw, internal_date, .. } => {
            let o = append(s, folder, flags, *internal_date, raw).await?;
            if !o.ok {
                return Ok(refused(o));
            }
            Ok(Ok(match o.new_uid {
                Some((v, u)) => WritebackEffect::NewUid { uidvalidity: v, uid: u },
                None => WritebackEffect::None,
            }))
        }
        WritebackOp::Create { name } => {
            let o = command(s, &format!("CREATE {}", quote(&mutf7::encode(name))), &format!("CREATE {name}")).await?;
            // A folder that exists already is what we wanted.
            if o.ok || o.text.to_lowercase().contains("exists") {
                Ok(Ok(WritebackEffect::None))
            } else {
                Ok(refused(o))
            }
        }
        WritebackOp::Rename { from, to } => {
            if sel.0.is_some() {
                command(s, "UNSELECT", "UNSELECT").await?;
                sel.0 = None;
            }
            let o = command(
                s,
                &format!("RENAME {} {}", quote(&mutf7::encode(from)), quote(&mutf7::encode(to))),
                &format!("RENAME {from}"),
            )
            .await?;
            if o.ok { Ok(Ok(WritebackEffect::None)) } else { Ok(refused(o)) }
        }
        WritebackOp::Delete { name } => {
            if sel.0.as_deref() == Some(name) {
                command(s, "UNSELECT", "UNSELECT").await?;
                sel.0 = None;
            }
            let o = command(s, &format!("DELETE {}", quote(&mutf7::encode(name))), &format!("DELETE {name}")).await?;
            let gone = o.text.to_lowercase().contains("nonexistent")
                || o.text.to_lowercase().contains("doesn't exist")
                || o.text.to_lowercase().contains("does not exist");
            if o.ok || gone { Ok(Ok(WritebackEffect::None)) } else { Ok(refused(o)) }
        }
    }
}

/// Write this mailbox's pending device changes to the server. Returns how many were done.
/// An error means the connection is unusable; pending changes stay queued.
/// What `status` shows about the phone changes of one mailbox waiting for the server.
pub fn status(app: &App, mailbox: &str) -> anyhow::Result<crate::status::Part> {
    Ok(render_status(&app.store.writeback().summary(mailbox)?, app.config.agent.time_zone))
}

fn render_status(w: &WritebackSummary, tz: chrono_tz::Tz) -> crate::status::Part {
    let when = |t: Option<i64>| t.map(|t| crate::status::local_time(tz, t)).unwrap_or_default();
    let mut lines = Vec::new();
    if w.pending > 0 {
        lines.push(format!("phone changes waiting for the server: {} (oldest from {})", w.pending, when(w.oldest_at)));
        if let Some(e) = &w.last_error {
            lines.push(format!("  the server refused one, retrying: {e}"));
        }
    }
    if w.dropped > 0 {
        lines.push(format!(
            "phone changes the server refused for good: {} (last at {}: {}); the server's state was kept",
            w.dropped,
            when(w.last_dropped_at),
            w.last_dropped.as_deref().unwrap_or("")
        ));
    }
    crate::status::Part {
        json: serde_json::json!({
            "pending": w.pending,
            "oldest_at": w.oldest_at,
            "last_error": w.last_error,
            "dropped": w.dropped,
            "last_dropped": w.last_dropped,
            "last_dropped_at": w.last_dropped_at,
        }),
        lines,
    }
}

pub async fn drain(app: &App, mailbox: &str, session: &mut ImapSession) -> anyhow::Result<usize> {
    let mut done = 0;
    let mut after = 0;
    let mut sel = Selected(None);
    // Ops queued while we work are picked up in the same drain (the queue is read in id order).
    while let Some(q) = app.store.writeback().next(mailbox, after)? {
        after = q.id;
        if q.op == WritebackOp::Wait {
            continue;
        }
        match perform(session, &mut sel, &q.op).await? {
            Ok(effect) => {
                app.store.writeback().done(mailbox, &q, effect)?;
                if !matches!(q.op, WritebackOp::Obsolete) {
                    done += 1;
                }
            }
            Err(text) => refused(app, mailbox, &q, &text)?,
        }
    }
    if sel.0.is_some() {
        // Leave no folder selected: the mirror selects what it needs itself.
        let _ = command(session, "UNSELECT", "UNSELECT").await;
    }
    if done > 0 {
        tracing::debug!(mailbox, done, "write-back: changes written to IMAP");
    }
    Ok(done)
}

fn refused(app: &App, mailbox: &str, q: &QueuedOp, text: &str) -> Result<(), WritebackError> {
    let dropped = app.store.writeback().refused(q, kind(&q.op), text, GIVE_UP_AFTER)?;
    if dropped {
        tracing::warn!(mailbox, op = ?kind(&q.op), attempts = q.attempts + 1, error = text, "write-back: the server refused a change repeatedly; dropped it");
    } else {
        tracing::info!(mailbox, op = ?kind(&q.op), error = text, "write-back: the server refused a change; will retry");
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
        WritebackOp::Obsolete => "obsolete",
        WritebackOp::Wait => "waiting for its append",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_silent_when_nothing_waits_and_says_what_waits_or_was_given_up() {
        let tz = chrono_tz::Europe::Berlin;
        assert!(render_status(&WritebackSummary::default(), tz).lines.is_empty());
        let w = WritebackSummary {
            pending: 3,
            oldest_at: Some(1_796_000_000),
            last_error: Some("NO [TRYCREATE] Mailbox doesn't exist".into()),
            dropped: 1,
            last_dropped: Some("move: NO [TRYCREATE] Mailbox doesn't exist".into()),
            last_dropped_at: Some(1_796_003_600),
        };
        let p = render_status(&w, tz);
        assert_eq!(p.lines.len(), 3, "{:?}", p.lines);
        assert!(
            p.lines[0].starts_with("phone changes waiting for the server: 3 (oldest from 30.11.2026"),
            "{:?}",
            p.lines
        );
        assert!(p.lines[1].contains("retrying") && p.lines[1].contains("TRYCREATE"));
        assert!(p.lines[2].contains("refused for good: 1") && p.lines[2].contains("move:"));
        assert_eq!(p.json["pending"], 3);
        assert_eq!(p.json["dropped"], 1);
    }
}
