//! Putting a message into the queue, and what a person or a phone may do to it there.
//!
//! `enqueue` validates a message for its mailbox (exactly one From field and at most one
//! Sender field, each a company address of the mailbox; real recipients; Bcc leaves the
//! header; a missing Message-ID or Date is added) and commits it in one store transaction,
//! then wakes the loop; it returns once the message is durable. The fields are counted raw
//! ([`senders`]): a parser keeps only the last of two From fields while DKIM signs the
//! bottom one and mail clients show the top one, so two are never let through. Only the
//! header section is parsed, however big the body. `state`, `cancel` and
//! `retry_now` read and change a queued message for `postbote queue`, JMAP and the
//! auto-responder; `mark_sent` settles an `unknown` message a person
//! says went out. Nothing here sends.

use super::compose;
use crate::app::App;
use crate::message::EmailAddress;
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

/// The one From address of a message and its Sender address if it has one, or why the
/// message cannot be checked: the raw header must hold exactly one `From` field and at most
/// one `Sender` field, each with exactly one address. Reads only the header section.
pub fn senders(raw: &[u8]) -> Result<(EmailAddress, Option<EmailAddress>), String> {
    let fields = crate::message::header_fields(raw);
    let count = |name: &str| fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
    match count("From") {
        0 => return Err("the message has no From field".into()),
        1 => {}
        n => return Err(format!("the message has {n} From fields; one is allowed")),
    }
    let n = count("Sender");
    if n > 1 {
        return Err(format!("the message has {n} Sender fields; at most one is allowed"));
    }
    let parsed = crate::message::parse(header_section(raw));
    let from = match parsed.from.as_slice() {
        [one] if !one.email.is_empty() => one.clone(),
        [] | [_] => return Err("the message has no From address".into()),
        _ => return Err("the message has more than one From address".into()),
    };
    let sender = match (n, parsed.sender.as_slice()) {
        (0, _) => None,
        (_, [one]) if !one.email.is_empty() => Some(one.clone()),
        _ => return Err("the Sender field does not hold exactly one address".into()),
    };
    Ok((from, sender))
}

/// The header section with the blank line that ends it (the whole input when it has none).
fn header_section(raw: &[u8]) -> &[u8] {
    match crate::message::find_header_end(raw) {
        0 => raw,
        end => &raw[..end],
    }
}

/// Queue a message durably and wake the sender. Returns once it is committed.
pub fn enqueue(app: &App, msg: Outgoing) -> Result<Queued, EnqueueError> {
    let refuse = |s: String| Err(EnqueueError::Refused(s));
    let Some(mb) = app.config.mailbox(&msg.mailbox) else {
        return refuse(format!("no mailbox \"{}\" in the config", msg.mailbox));
    };
    // A phone's message is CRLF already (the submission server writes it so): no copy then.
    let raw = if compose::is_crlf(&msg.raw) { msg.raw } else { compose::normalize_crlf(&msg.raw) };
    let Some((mut fields, rest)) = compose::split_headers(&raw) else {
        return refuse(format!("mailbox \"{}\": the message has no header section", mb.id));
    };
    let (from, sender) = match senders(&raw) {
        Ok(s) => s,
        Err(why) => return refuse(format!("mailbox \"{}\": {why}", mb.id)),
    };
    // The header section alone: the body is never parsed or copied here but once, at `join`.
    let parsed = crate::message::parse(header_section(&raw));
    let mut from_addr = String::new();
    for (name, addr) in std::iter::once(("From", &from)).chain(sender.as_ref().map(|s| ("Sender", s))) {
        let lower = addr.email.to_lowercase();
        let company = if mb.addresses.contains(&lower) {
            lower
        } else if lower == mb.hosted_address {
            // The hosted address must never show: the recipient sees the company address.
            let company = mb.primary_address().to_string();
            let header = format!("{name}: {}\r\n", compose::mailbox_header(addr.name.as_deref(), &company));
            for f in fields.iter_mut() {
                if compose::is_field(f, name) {
                    *f = header.clone().into_bytes();
                }
            }
            company
        } else {
            return refuse(format!(
                "mailbox \"{}\": {name} {} is not one of its company addresses ({})",
                mb.id,
                addr.email,
                mb.addresses.join(", ")
            ));
        };
        if name == "From" {
            from_addr = company;
        }
    }

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
    let raw = compose::join(&fields, rest);
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
    if done {
        // the Sent copy to save, or the later envelopes of a split message to send
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

    fn queue(app: &App, header: &str) -> Result<Queued, EnqueueError> {
        let raw = format!("{header}To: kunde@example.test\r\nSubject: x\r\n\r\nhallo\r\n").into_bytes();
        enqueue(
            app,
            Outgoing { mailbox: "becker".into(), raw, recipients: None, origin: Origin::Phone, discard_after: None },
        )
    }

    fn refused(r: Result<Queued, EnqueueError>) -> String {
        match r {
            Err(EnqueueError::Refused(why)) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    /// Regression: mail-parser keeps the last of two From fields, so a message whose bottom
    /// From was the company address and whose top one (the one clients show) was anyone's
    /// passed the sender rule.
    #[test]
    fn exactly_one_from_and_at_most_one_sender_each_a_company_address() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), true);
        let why = refused(queue(&app, "From: chef@example.test\r\nFrom: becker@bau-firma.test\r\n"));
        assert_eq!(why, "mailbox \"becker\": the message has 2 From fields; one is allowed");
        let why = refused(queue(&app, "from: becker@bau-firma.test\r\nFROM : chef@example.test\r\n"));
        assert!(why.contains("2 From fields"), "{why}");
        let why = refused(queue(
            &app,
            "From: becker@bau-firma.test\r\nSender: becker@bau-firma.test\r\nSender: chef@example.test\r\n",
        ));
        assert!(why.contains("2 Sender fields"), "{why}");
        let why = refused(queue(&app, "From: becker@bau-firma.test\r\nSender: chef@example.test\r\n"));
        assert!(why.contains("Sender chef@example.test is not one of its company addresses"), "{why}");
        let why = refused(queue(&app, "From: becker@bau-firma.test\r\nSender: info@bau-firma.test\r\n"));
        assert!(why.contains("Sender info@bau-firma.test"), "another mailbox's address: {why}");
        let why = refused(queue(&app, "Subject: none\r\n"));
        assert!(why.contains("no From field"), "{why}");

        // One From and one Sender of the mailbox are fine; a hosted Sender is rewritten.
        let q = queue(&app, "From: Becker <becker@bau-firma.test>\r\nSender: B@H.test\r\n").unwrap();
        let m = app.store.outbox().next("becker", i64::MAX).unwrap().unwrap();
        assert_eq!(m.id, q.id);
        let raw = String::from_utf8_lossy(&m.raw).to_string();
        assert!(raw.contains("Sender: becker@bau-firma.test\r\n") && !raw.contains("B@H.test"), "{raw}");
        assert!(queue(&app, "From: becker@bau-firma.test\r\n").is_ok());
    }

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

    /// A split message that stopped in its first envelope: "it went out" settles that
    /// envelope's recipients, and the others, never sent to, get it now instead of being
    /// dropped.
    #[test]
    fn settling_a_split_message_as_sent_sends_the_later_envelopes() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), false);
        let raw = b"From: becker@bau-firma.test\r\nTo: a@example.de, b@example.de, c@example.de\r\nSubject: Angebot\r\n\r\nAnbei.\r\n"
            .to_vec();
        let out =
            Outgoing { mailbox: "becker".into(), raw, recipients: None, origin: Origin::Office, discard_after: None };
        let q = enqueue(&app, out).unwrap();
        app.store.outbox().begin(q.id).unwrap();
        app.store.outbox().next_envelope(q.id, &[], crate::store::now(), &["a@example.de".into()]).unwrap();
        app.store.outbox().mark_unknown().unwrap();
        assert!(mark_sent(&app, q.id, "console:anna").unwrap());
        let (m, trail) = app.store.outbox().show(q.id).unwrap().unwrap();
        assert_eq!(m.status, State::Queued, "{trail:?}");
        let status: Vec<(&str, &str)> = m.recipients.iter().map(|r| (r.address.as_str(), r.status.as_str())).collect();
        assert_eq!(status, [("a@example.de", "sent"), ("b@example.de", "pending"), ("c@example.de", "pending")]);
        assert!(trail.iter().any(|a| a.text.contains("2 recipients of later envelopes")), "{trail:?}");
        assert!(!mark_sent(&app, q.id, "a person").unwrap(), "queued again, not unknown");
    }
}
