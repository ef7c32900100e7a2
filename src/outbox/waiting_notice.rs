//! Counting the time mail is held by a closed office-session gate, and telling its sender.
//!
//! Called from every pass of the queue loop. While the gate of a `send_while = "session"`
//! transport is closed, the working time of each interval (`waiting::working_secs`) is added
//! to the waiting messages of its mailboxes in the store, so a restart keeps what was counted
//! (an interval is credited when the gate was closed at its start; the time the daemon was not
//! running is not counted). Then the pure `waiting::plan` names the notices due, and each one
//! goes into the sender's INBOX (the store at once, the server's INBOX through the write-back
//! queue, as the failure notices do) in the transaction that marks its messages as told. This
//! module never sends mail and never changes a message's queue state.

use std::collections::HashMap;
use std::time::Duration;

use chrono::DateTime;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;

use super::gate;
use super::waiting::{self, Held, Rule};
use crate::app::App;
use crate::config::{SendWhile, Transport};
use crate::store::StoreError;
use crate::store::waiting::HeldRow;

/// The gate of each transport as seen at the previous pass.
#[derive(Debug, Default)]
pub struct WaitClock {
    last: Option<(i64, [bool; 2])>,
}

fn slot(t: Transport) -> usize {
    match t {
        Transport::Direct => 0,
        Transport::Relay => 1,
    }
}

/// One pass: count, then tell whoever is due.
pub fn tick(app: &App, clock: &mut WaitClock, at: i64) -> Result<(), StoreError> {
    let cfg = &app.config;
    let rule = Rule { after: cfg.outbox.still_waiting_after, hours: cfg.outbox.working_hours, tz: cfg.agent.time_zone };
    let mut closed = [false; 2];
    let mut held_accounts: Vec<String> = Vec::new();
    for t in [Transport::Direct, Transport::Relay] {
        let accounts: Vec<String> = cfg.mailboxes.iter().filter(|m| m.transport == t).map(|m| m.id.clone()).collect();
        if accounts.is_empty() || gate::policy(app, t) != SendWhile::Session {
            continue;
        }
        closed[slot(t)] = !gate::is_open(app, t)?;
        if let Some((prev, was_closed)) = clock.last
            && was_closed[slot(t)]
        {
            app.store.outbox().add_gate_wait(&accounts, waiting::working_secs(&rule.hours, rule.tz, prev, at))?;
        }
        held_accounts.extend(accounts);
    }
    clock.last = Some((at, closed));
    if held_accounts.is_empty() {
        return Ok(());
    }

    let rows = app.store.outbox().held(&held_accounts)?;
    if rows.is_empty() {
        return Ok(());
    }
    let held: Vec<Held> = rows
        .iter()
        .map(|r| Held {
            id: r.id,
            account: r.account.clone(),
            auto_reply: r.origin == super::Origin::AutoReply.as_str(),
            held_by_gate: true,
            waited: Duration::from_secs(r.gate_wait_secs.max(0) as u64),
            noticed: false,
        })
        .collect();
    let mut last = HashMap::new();
    for r in &rows {
        if !last.contains_key(&r.account)
            && let Some(t) = app.store.outbox().last_waiting_notice(&r.account)?
        {
            last.insert(r.account.clone(), t);
        }
    }
    for s in waiting::plan(&held, &last, &rule, at) {
        let Some(mb) = cfg.mailbox(&s.account) else { continue };
        let items: Vec<&HeldRow> = s.ids.iter().filter_map(|id| rows.iter().find(|r| r.id == *id)).collect();
        let raw = render(rule.tz, mb.primary_address(), &items, at, &super::random_hex(16));
        app.store.outbox().waiting_noticed(&mb.id, &s.ids, raw, at)?;
        app.wake_writeback(&mb.id);
        tracing::info!(mailbox = %mb.id, messages = s.ids.len(), "told the sender that mail waits for an office session");
    }
    Ok(())
}

/// The notice, German then English: what waits (recipients, subject, since when), why, and
/// what to do. `Auto-Submitted` keeps the auto-responder away from it.
pub fn render(tz: chrono_tz::Tz, to: &str, items: &[&HeldRow], now: i64, random: &str) -> Vec<u8> {
    let domain = to.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
    let local = |t: i64, fmt: &str| {
        DateTime::from_timestamp(t, 0).map(|d| d.with_timezone(&tz).format(fmt).to_string()).unwrap_or_default()
    };
    let subject_of = |r: &HeldRow| {
        let s = r.subject.trim();
        if s.is_empty() { "(ohne Betreff / no subject)".to_string() } else { s.to_string() }
    };
    let list = |to_word: &str, subject_word: &str, since_word: &str, fmt: &str| {
        let mut out = String::new();
        for r in items {
            out.push_str(&format!(
                "  {to_word} {}\r\n  {subject_word} {}\r\n  {since_word} {}\r\n\r\n",
                r.recipients.join(", "),
                subject_of(r),
                local(r.created_at, fmt)
            ));
        }
        out
    };
    let n = items.len();
    let (de_head, en_head) = if n == 1 {
        ("Diese Nachricht wurde noch NICHT gesendet:".to_string(), "This message has NOT been sent yet:".to_string())
    } else {
        (
            format!("Diese {n} Nachrichten wurden noch NICHT gesendet:"),
            format!("These {n} messages have NOT been sent yet:"),
        )
    };
    let body = format!(
        "{de_head}\r\n\r\n{}\
         Warum: Ausgehende Post wird nur gesendet, solange jemand im Büroprogramm angemeldet ist. \
         Zurzeit ist niemand angemeldet (zum Beispiel ist der Büro-PC aus).\r\n\
         Was tun: Melden Sie sich im Büroprogramm an oder bitten Sie das Büro darum. Dann geht die \
         Post von selbst hinaus; bitte nicht noch einmal senden.\r\n\r\n\
         ----\r\n\r\n\
         {en_head}\r\n\r\n{}\
         Why: outgoing mail is sent only while someone is logged in to the office program. \
         Nobody is logged in right now (the office PC may be off).\r\n\
         What to do: log in to the office program, or ask the office to. The mail then goes out \
         by itself; please do not send it again.\r\n\r\n\
         (postbote)\r\n",
        list("An:", "Betreff:", "Wartet seit:", "%d.%m.%Y %H:%M"),
        list("To:", "Subject:", "Waiting since:", "%Y-%m-%d %H:%M"),
    );
    let subject = match items {
        [one] => format!("Noch nicht gesendet / Not sent yet: {}", subject_of(one)),
        _ => format!("{n} Nachrichten noch nicht gesendet / {n} messages not sent yet"),
    };
    let mut b = MessageBuilder::new()
        .from(Address::new_address(Some("postbote"), format!("mailer-daemon@{domain}")))
        .to(Address::new_address(None::<String>, to.to_string()))
        .subject(subject)
        .header("Date", Raw::new(local(now, "%a, %d %b %Y %H:%M:%S %z")))
        .message_id(format!("{random}.waiting@{domain}"))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .header("X-Auto-Response-Suppress", Raw::new("All"));
    if let [one] = items {
        b = b.in_reply_to(one.message_id.clone()).references(MessageId::new(one.message_id.clone()));
    }
    b.text_body(body).write_to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, subject: &str) -> HeldRow {
        HeldRow {
            id,
            account: "becker".into(),
            origin: "phone".into(),
            message_id: format!("m{id}@bau-firma.test"),
            subject: subject.into(),
            created_at: 1_796_000_000,
            gate_wait_secs: 7200,
            recipients: vec![format!("kunde{id}@kunde.test")],
        }
    }

    fn body_of(raw: &[u8]) -> String {
        mail_parser::MessageParser::default().parse(raw).unwrap().body_text(0).unwrap_or_default().to_string()
    }

    #[test]
    fn one_message_is_named_and_the_notice_says_why_and_what_to_do() {
        let r = row(7, "Angebot Bäder");
        let raw = render(chrono_tz::Europe::Berlin, "becker@bau-firma.test", &[&r], 1_796_007_200, "abc");
        let p = crate::message::parse(&raw);
        assert_eq!(p.subject, "Noch nicht gesendet / Not sent yet: Angebot Bäder");
        assert_eq!(p.in_reply_to, vec!["m7@bau-firma.test"]);
        let text = String::from_utf8_lossy(&raw).to_string();
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        let body = body_of(&raw);
        for want in [
            "kunde7@kunde.test",
            "Angebot Bäder",
            "niemand angemeldet",
            "Melden Sie sich im Büroprogramm an",
            "Nobody is logged in",
            "log in to the office program, or ask the office",
        ] {
            assert!(body.contains(want), "{want:?} missing in {body}");
        }
    }

    #[test]
    fn several_messages_make_one_summary() {
        let (a, b) = (row(1, "Rechnung"), row(2, ""));
        let raw = render(chrono_tz::Europe::Berlin, "becker@bau-firma.test", &[&a, &b], 1_796_007_200, "abc");
        let p = crate::message::parse(&raw);
        assert_eq!(p.subject, "2 Nachrichten noch nicht gesendet / 2 messages not sent yet");
        let body = body_of(&raw);
        assert!(body.contains("kunde1@kunde.test") && body.contains("kunde2@kunde.test") && body.contains("Rechnung"));
        assert!(body.contains("(ohne Betreff / no subject)"));
    }
}
