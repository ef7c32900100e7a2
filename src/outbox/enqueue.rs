//! Putting a message into the queue, and what a person or a phone may do to it there.
//!
//! `enqueue` validates a message for its mailbox (a company From, real recipients; Bcc leaves
//! the header; a missing Message-ID or Date is added) and commits it in one store transaction,
//! then wakes the loop; it returns once the message is durable. `state`, `cancel` and
//! `retry_now` read and change a queued message for `postbote queue`, JMAP and the
//! auto-responder; `mark_sent` settles an `unknown` message a person
//! says went out. Nothing here sends.

use super::compose;
use crate::app::App;
use crate::store::outbox::{NewOutboxMessage, State};

/// Who asked for a message to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The office program or a person (`postbote send`).
    Office,
    /// A phone (JMAP EmailSubmission).
    Phone,
    /// The auto-responder.
    AutoReply,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Office => "office",
            Origin::Phone => "phone",
            Origin::AutoReply => "autoreply",
        }
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The mailbox id it is sent for.
    pub mailbox: String,
    /// The whole RFC 5322 message. Its From must be one of the mailbox's company addresses.
    /// A missing Message-ID (on the company domain) or Date is added.
    pub raw: Vec<u8>,
    /// Envelope recipients; `None` takes To, Cc and Bcc of the message (Bcc is removed from
    /// the header before sending).
    pub recipients: Option<Vec<String>>,
    pub origin: Origin,
    /// Unix seconds: if it has not been sent by then it is cancelled, not sent late
    /// (auto-replies after the leave ended).
    pub discard_after: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    /// Without angle brackets.
    pub message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Queue a message durably and wake the sender. Returns once it is committed.
pub fn enqueue(app: &App, msg: Outgoing) -> Result<Queued, EnqueueError> {
    let refuse = |s: String| Err(EnqueueError::Refused(s));
    let Some(mb) = app.config.mailbox(&msg.mailbox) else {
        return refuse(format!("no mailbox \"{}\" in the config", msg.mailbox));
    };
    let raw = compose::normalize_crlf(&msg.raw);
    let Some((mut fields, rest)) = compose::split_headers(&raw) else {
        return refuse(format!("mailbox \"{}\": the message has no header section", mb.id));
    };
    let rest = rest.to_vec();
    let parsed = crate::message::parse(&raw);
    let from = match parsed.from.as_slice() {
        [one] => one.clone(),
        [] => return refuse(format!("mailbox \"{}\": the message has no From address", mb.id)),
        _ => return refuse(format!("mailbox \"{}\": the message has more than one From address", mb.id)),
    };
    let from_addr = from.email.to_lowercase();
    let from_addr = if mb.addresses.contains(&from_addr) {
        from_addr
    } else if from_addr == mb.hosted_address {
        // The hosted address must never show: the recipient sees the company address.
        let company = mb.primary_address().to_string();
        let header = format!("From: {}\r\n", compose::mailbox_header(from.name.as_deref(), &company));
        for f in fields.iter_mut() {
            if compose::is_field(f, "From") {
                *f = header.clone().into_bytes();
            }
        }
        company
    } else {
        return refuse(format!(
            "mailbox \"{}\": From {} is not one of its company addresses ({})",
            mb.id,
            from.email,
            mb.addresses.join(", ")
        ));
    };

    let mut recipients: Vec<String> = Vec::new();
    let given: Vec<String> = match &msg.recipients {
        Some(r) => r.clone(),
        None => parsed.to.iter().chain(&parsed.cc).chain(&parsed.bcc).map(|a| a.email.clone()).collect(),
    };
    for r in given {
        let r = r.trim().to_string();
        if !crate::config::is_address(&r) {
            return refuse(format!("mailbox \"{}\": recipient \"{r}\" is not an e-mail address", mb.id));
        }
        if !recipients.iter().any(|x| x.eq_ignore_ascii_case(&r)) {
            recipients.push(r);
        }
    }
    if recipients.is_empty() {
        return refuse(format!(
            "mailbox \"{}\": the message has no recipient (no To, Cc or Bcc, and none given)",
            mb.id
        ));
    }

    fields.retain(|f| !compose::is_field(f, "Bcc"));
    let domain = from_addr.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    let message_id = match parsed.message_id.filter(|m| !m.is_empty() && m.contains('@')) {
        Some(id) => id,
        None => {
            fields.retain(|f| !compose::is_field(f, "Message-ID"));
            let id = compose::new_message_id(&domain);
            fields.push(format!("Message-ID: <{id}>\r\n").into_bytes());
            id
        }
    };
    if !fields.iter().any(|f| compose::is_field(f, "Date")) {
        fields.push(format!("Date: {}\r\n", compose::date_header(app.config.agent.time_zone)).into_bytes());
    }
    let raw = compose::join(&fields, &rest);
    let id = app.store.outbox().insert(&NewOutboxMessage {
        account: mb.id.clone(),
        origin: msg.origin.as_str(),
        message_id: message_id.clone(),
        from_addr,
        subject: parsed.subject,
        raw,
        recipients,
        discard_after: msg.discard_after,
    })?;
    app.outbox_wake.notify_one();
    Ok(Queued { id, message_id })
}

/// The queue state of a message, or None if there is no such message.
pub fn state(app: &App, id: i64) -> Result<Option<State>, crate::store::StoreError> {
    app.store.outbox().state(id)
}

/// Cancel a message that has not been sent. Returns false if it was already final.
pub fn cancel(app: &App, id: i64, reason: &str) -> Result<bool, crate::store::StoreError> {
    app.store.outbox().cancel(id, reason)
}

/// A person says an `unknown` message went out (they found it at the recipient or in the
/// Sent folder): it becomes `sent`, and its Sent copy is saved unless the mirrored Sent folder
/// holds it already. The other answer to `unknown` is [`retry_now`] (send it again). Returns
/// false when there is no such message or it is not `unknown`.
pub fn mark_sent(app: &App, id: i64, who: &str) -> Result<bool, crate::store::StoreError> {
    let Some((m, _)) = app.store.outbox().show(id)? else { return Ok(false) };
    if m.status != State::Unknown {
        return Ok(false);
    }
    let in_sent = app.store.message_id_in_role(&m.account, "sent", &m.message_id)?;
    let how = format!("{who} said it went out");
    let done = app.store.outbox().resolve_sent_with(id, &how, in_sent)?;
    if done && !in_sent {
        app.outbox_wake.notify_one();
    }
    Ok(done)
}

/// Send it again (deferred, failed, expired or unknown), now, and lift the mailbox's pause.
/// Returns false when the message does not exist or is sent, sending or cancelled.
pub fn retry_now(app: &App, id: i64, who: &str) -> Result<bool, crate::store::StoreError> {
    let r = app.store.outbox().retry(id, who)?;
    if r.is_some() {
        app.outbox_wake.notify_one();
    }
    Ok(r.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_settles_only_an_unknown_message_as_sent_and_its_copy_is_saved_unless_sent_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), false);
        let raw = b"From: becker@bau-firma.test\r\nTo: kunde@example.de\r\nSubject: Angebot\r\n\r\nAnbei.\r\n".to_vec();
        let out =
            Outgoing { mailbox: "becker".into(), raw, recipients: None, origin: Origin::Office, discard_after: None };
        let q = enqueue(&app, out).unwrap();
        assert!(!mark_sent(&app, q.id, "a person").unwrap(), "a queued message is not unknown");
        assert!(!mark_sent(&app, 999, "a person").unwrap(), "no such message");
        app.store.outbox().begin(q.id).unwrap();
        app.store.outbox().mark_unknown().unwrap();
        assert!(mark_sent(&app, q.id, "console:anna").unwrap());
        let (m, trail) = app.store.outbox().show(q.id).unwrap().unwrap();
        assert_eq!(m.status, State::Sent);
        assert_eq!(m.resolved.as_deref(), Some("console:anna said it went out"));
        assert_eq!(m.recipients[0].status, "sent");
        assert!(trail.iter().any(|a| a.text == "marked sent: console:anna said it went out"), "{trail:?}");
        assert!(!m.sent_copy_done, "the mirrored Sent folder does not hold it: the copy is still to be saved");
        assert_eq!(app.store.outbox_sent_copies_due("becker", 10).unwrap().len(), 1);
        assert!(!mark_sent(&app, q.id, "a person").unwrap(), "settled once");
    }
}
