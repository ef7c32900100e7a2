//! Notices postbote writes into a sender's INBOX about the queue: recipients that failed,
//! and messages that expired undelivered (the "still waiting" notice is `waiting_notice`, the
//! blocked-account notice `pacing`). Each lands in the store at once, where phones see it, and
//! on the server through the write-back queue. Nothing here decides a message's state.

use super::compose;
use crate::app::App;
use crate::config::Mailbox;
use crate::store::StoreError;

/// Put a notice about recipients that failed into the sender's INBOX (the store at once, the
/// server's INBOX through the write-back queue).
pub(crate) fn notify_failed(
    app: &App,
    mb: &Mailbox,
    id: i64,
    lines: &[compose::NoticeLine],
    expired: bool,
) -> Result<(), StoreError> {
    let Some((m, _)) = app.store.outbox().show(id)? else { return Ok(()) };
    let domain = m.from.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_else(|| "localhost".into());
    let raw = compose::notice(app.config.agent.time_zone, &m.from, &domain, &m.subject, &m.message_id, lines, expired);
    app.store.insert_inbox_notice(&mb.id, raw, &["$postbote-notice"])?;
    app.wake_writeback(&mb.id);
    app.store.outbox().note(id, "postbote", None, "a notice about the failed recipients was put into the INBOX")?;
    Ok(())
}

/// A message expired: tell its sender which recipients never got it, each with the last
/// answer about them.
pub(crate) fn expired(app: &App, mb: &Mailbox, id: i64) -> Result<(), StoreError> {
    let Some((m, _)) = app.store.outbox().show(id)? else { return Ok(()) };
    let lines: Vec<compose::NoticeLine> = m
        .recipients
        .iter()
        .filter(|r| r.status == "pending")
        .map(|r| compose::NoticeLine {
            recipient: r.address.clone(),
            reply: r.text.clone().unwrap_or_else(|| m.last_error.clone().unwrap_or_default()),
        })
        .collect();
    notify_failed(app, mb, id, &lines, true)
}
