//! The responder against a real SQLite store and outbox: the config seeds the settings
//! once, the loop decides every message once and records why, a reply's record follows the
//! outbox's state, the history `decide` gets counts only what was sent or still waits, known
//! correspondents come from the Sent folder, and queued replies block a second one.

use chrono::Utc;

use super::{app, corpus_dir, deliver};
use crate::autoreply::{self, settings::Settings};

/// The config's leave is applied once; a later change from the CLI or a phone survives a
/// restart until the config itself changes; saving logs a VacationResponse change.
#[test]
fn config_seeds_settings_once_and_saving_logs_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let vac = "[mailbox.vacation]\nstart = 2026-12-21\nend = 2027-01-06\nbody = \"Urlaub\"\n";
    let a = app(dir.path(), vac);
    assert_eq!(autoreply::apply_config(&a).unwrap(), vec!["becker"]);
    let s = autoreply::load_settings(&a, "becker").unwrap();
    assert!(s.is_enabled);
    assert_eq!(s.to_date.unwrap().to_rfc3339(), "2027-01-06T23:00:00+00:00");
    let state_before = a.store.account_state("becker").unwrap().unwrap().0;
    let mut changed = s.clone();
    changed.text_body = Some("Urlaub bis 7.1.".into());
    autoreply::save_settings(&a, "becker", &changed).unwrap();
    assert!(a.store.account_state("becker").unwrap().unwrap().0 > state_before, "modseq moved");
    let logged: i64 = a
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM change_log WHERE account = 'becker' AND type = 6 AND object_id = 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(logged, 2, "created by the config, updated by the save");
    // Restart with the same config: the phone's text stays.
    assert!(autoreply::apply_config(&a).unwrap().is_empty());
    assert_eq!(autoreply::load_settings(&a, "becker").unwrap().text_body.as_deref(), Some("Urlaub bis 7.1."));
    // Invalid settings are refused.
    let bad = Settings { interval_secs: 3600, ..changed };
    assert!(autoreply::save_settings(&a, "becker", &bad).is_err());
    assert!(matches!(autoreply::load_settings(&a, "nobody"), Err(autoreply::AutoreplyError::UnknownMailbox(_))));
}

/// The loop: old mail of the first sync is passed over, new mail is decided once and recorded
/// with its reason, a copy with the same Message-ID is not decided again, Junk is spam,
/// other folders are ignored.
#[test]
fn loop_records_every_decision_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    let now = Utc::now();
    let mut s = Settings { is_enabled: true, ..Default::default() };
    s.from_date = Some(now - chrono::Duration::days(1));
    autoreply::save_settings(&a, "becker", &s).unwrap();
    let m = a.config.mailbox("becker").unwrap().clone();
    // Armed now: mail received before is the first sync.
    deliver(&a, "becker", "INBOX", "inbox", 1, "customer.eml", now - chrono::Duration::hours(2));
    assert_eq!(autoreply::pass(&a, &m, now).unwrap(), 0);
    let later = now + chrono::Duration::minutes(5);
    deliver(&a, "becker", "INBOX", "inbox", 2, "mailing-list.eml", later);
    deliver(&a, "becker", "INBOX", "inbox", 3, "umlaut-subject.eml", later);
    deliver(&a, "becker", "Junk", "junk", 1, "in-junk.eml", later);
    deliver(&a, "becker", "Sent", "sent", 1, "own-address.eml", later);
    deliver(&a, "becker", "Archive", "archive", 1, "mailing-list.eml", later);
    assert_eq!(autoreply::pass(&a, &m, later + chrono::Duration::seconds(5)).unwrap(), 3);
    assert_eq!(autoreply::pass(&a, &m, later + chrono::Duration::seconds(10)).unwrap(), 0, "nothing is decided twice");
    let counts: std::collections::BTreeMap<String, i64> =
        a.store.autoreply().counts("becker").unwrap().into_iter().collect();
    assert_eq!(counts.get("list_header"), Some(&1));
    assert_eq!(counts.get("reply"), Some(&1));
    assert_eq!(counts.get("spam"), Some(&1));
    assert_eq!(counts.values().sum::<i64>(), 3);
    assert_eq!(a.store.autoreply().cursor("becker").unwrap().unwrap().initial_skipped, 1);
    let recent = a.store.autoreply().recent("becker", 10).unwrap();
    let reply = recent.iter().find(|r| r.reason == "reply").unwrap();
    assert_eq!(reply.sender.as_deref(), Some("boehm@kunde.test"));
    // Whether the outbox took it or refused it, the record says so.
    assert!(reply.reply_state.is_some() || reply.detail.contains("not queued"), "{reply:?}");
    // `status` counts by reason.
    let s = autoreply::status(&a, "becker").unwrap();
    assert!(s.decisions.contains(&("list_header".into(), 1)), "{s:?}");
    assert!(s.decisions.contains(&("spam".into(), 1)), "{s:?}");
    assert_eq!(s.initial_sync_skipped, 1);
    assert!(s.settings.is_enabled, "{s:?}");
    // The outbox's verdict shows at once: the queue writes it into the reply's record.
    let open = a.store.autoreply().open_replies("becker").unwrap();
    assert_eq!(open.len(), 1, "the reply waits in the queue (no office session)");
    assert!(crate::outbox::cancel(&a, open[0].1, "test").unwrap());
    let s = autoreply::status(&a, "becker").unwrap();
    assert_eq!(s.replies, [("cancelled".to_string(), 1)], "{s:?}");
}

/// A reply's record takes the outbox's state as it is when the decision is recorded (the
/// queue may have moved it already), and follows every later change in the outbox's own
/// transaction: nobody polls, and no pass is needed for the record to be true.
#[test]
fn a_reply_record_follows_the_outbox_without_a_pass() {
    use crate::store::autoreply::{DecisionRecord, ReplyRecord};
    use crate::store::outbox::NewOutboxMessage;
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    a.store.autoreply().arm("info", 0).unwrap();
    let queue = || {
        a.store
            .outbox()
            .insert(&NewOutboxMessage {
                account: "info".into(),
                origin: "autoreply",
                message_id: "r@bau-firma.test".into(),
                from_addr: "info@bau-firma.test".into(),
                subject: "Auto: x".into(),
                raw: b"From: info@bau-firma.test\r\n\r\nx\r\n".to_vec(),
                recipients: vec!["k@kunde.test".into()],
                discard_after: None,
            })
            .unwrap()
    };
    let record = |outbox_id: i64| {
        let d = DecisionRecord {
            message: None,
            rfc_message_id: None,
            sender: Some("k@kunde.test".into()),
            subject: String::new(),
            reply: true,
            reason: "reply".into(),
            detail: String::new(),
        };
        let r = ReplyRecord {
            sender: "k@kunde.test".into(),
            thread_id: None,
            outbox_id,
            message_id: "r@bau-firma.test".into(),
        };
        a.store.autoreply().record("info", &d, Some(&r), None).unwrap();
    };
    let states = || a.store.autoreply().reply_states("info").unwrap();
    // The queue cancelled it before the decision was recorded: the record says so.
    let early = queue();
    assert!(crate::outbox::cancel(&a, early, "test").unwrap());
    record(early);
    assert_eq!(states(), vec![("cancelled".to_string(), 1)]);
    // Recorded while queued, then cancelled: the record follows at once.
    let late = queue();
    record(late);
    assert_eq!(states(), vec![("cancelled".to_string(), 1), ("queued".to_string(), 1)]);
    assert!(crate::outbox::cancel(&a, late, "test").unwrap());
    assert_eq!(states(), vec![("cancelled".to_string(), 2)]);
}

/// The history the store gives `decide`: only sent replies count as answered, queued ones
/// block a second reply, cancelled ones count for nothing, `memory_since` forgets.
#[test]
fn reply_history_follows_the_outbox_state() {
    use crate::store::autoreply::{DecisionRecord, ReplyRecord};
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    a.store.autoreply().arm("info", 0).unwrap();
    let rec = |sender: &str, thread: i64, outbox_id: i64| {
        let d = DecisionRecord {
            message: None,
            rfc_message_id: None,
            sender: Some(sender.into()),
            subject: String::new(),
            reply: true,
            reason: "reply".into(),
            detail: String::new(),
        };
        let r = ReplyRecord {
            sender: sender.into(),
            thread_id: Some(thread),
            outbox_id,
            message_id: format!("r{outbox_id}@bau-firma.test"),
        };
        a.store.autoreply().record("info", &d, Some(&r), None).unwrap();
        a.store.autoreply().open_replies("info").unwrap().into_iter().find(|(_, o, _)| *o == outbox_id).unwrap().0
    };
    let now = crate::store::now();
    let r1 = rec("a@kunde.test", 10, 101);
    let h = a.store.autoreply().history("info", "a@kunde.test", Some(10), 0, now).unwrap();
    assert!(h.pending_for_sender && h.conversation_answered && h.last_sent_to_sender.is_none());
    assert_eq!(h.replies_last_hour, 1);
    a.store.autoreply().set_reply_state(r1, "sent", now).unwrap();
    let h = a.store.autoreply().history("info", "a@kunde.test", Some(10), 0, now).unwrap();
    assert!(!h.pending_for_sender && h.conversation_answered);
    assert_eq!(h.last_sent_to_sender, Some(now));
    let r2 = rec("b@kunde.test", 11, 102);
    a.store.autoreply().set_reply_state(r2, "cancelled", now).unwrap();
    let h = a.store.autoreply().history("info", "b@kunde.test", Some(11), 0, now).unwrap();
    assert!(!h.pending_for_sender && !h.conversation_answered && h.last_sent_to_sender.is_none());
    // A memory reset forgets the sent reply.
    let h = a.store.autoreply().history("info", "a@kunde.test", Some(10), now + 1, now).unwrap();
    assert!(!h.conversation_answered && h.last_sent_to_sender.is_none());
}

/// "Known" correspondents: recipients of mail in the Sent folder, not of our own auto-replies.
#[test]
fn known_correspondents_come_from_the_sent_folder() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    let f = a.store.folders().ensure("becker", "Sent", Some("sent")).unwrap();
    let raw = b"From: becker@bau-firma.test\r\nTo: Kunde <Mueller@Kunde.test>\r\nCc: lange@architekten.test\r\nMessage-ID: <s1@bau-firma.test>\r\nSubject: Angebot\r\n\r\nx".to_vec();
    let m = crate::store::messages::NewMessage { uid: Some(1), modseq: None, flags: vec![], internal_date: 0, raw };
    a.store.messages().insert("becker", f.id, vec![m], None).unwrap();
    let known = |addr: &str| a.store.autoreply().known_correspondent("becker", Some("sent"), None, &[addr]).unwrap();
    assert!(known("mueller@kunde.test"));
    assert!(known("lange@architekten.test"));
    assert!(!known("fremd@kunde.test"));
}

/// With the real outbox queue: a shared mailbox answers a conversation once; an employee's
/// sender is not answered twice while the first reply waits, and is again once that reply
/// was cancelled (it never went out).
#[test]
fn queued_replies_block_per_conversation_and_per_sender() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    let now = Utc::now();
    let on = Settings { is_enabled: true, ..Default::default() };
    autoreply::save_settings(&a, "info", &on).unwrap();
    autoreply::save_settings(&a, "becker", &on).unwrap();
    let info = a.config.mailbox("info").unwrap().clone();
    let becker = a.config.mailbox("becker").unwrap().clone();
    autoreply::pass(&a, &info, now).unwrap();
    autoreply::pass(&a, &becker, now).unwrap();
    let t = now + chrono::Duration::seconds(5);
    deliver(&a, "info", "INBOX", "inbox", 1, "shared-first.eml", t);
    deliver(&a, "info", "INBOX", "inbox", 2, "shared-second.eml", t);
    autoreply::pass(&a, &info, t).unwrap();
    let reasons: Vec<String> =
        a.store.autoreply().recent("info", 10).unwrap().into_iter().rev().map(|d| d.reason).collect();
    assert_eq!(reasons, vec!["reply", "conversation_answered"]);
    let first = &a.store.autoreply().recent("info", 10).unwrap()[1];
    assert_eq!(first.reply_state.as_deref(), Some("queued"), "{first:?}");

    // Employee: the same sender twice while the reply waits.
    deliver(&a, "becker", "INBOX", "inbox", 1, "customer.eml", t);
    deliver(&a, "becker", "INBOX", "inbox", 2, "umlaut-subject.eml", t);
    autoreply::pass(&a, &becker, t).unwrap();
    let raw = std::fs::read(corpus_dir().join("customer.eml")).unwrap();
    let again = String::from_utf8(raw).unwrap().replace("<c1.20270102@kunde.test>", "<c2.20270102@kunde.test>");
    let f = a.store.folders().by_name("becker", "INBOX").unwrap().unwrap();
    let m = crate::store::messages::NewMessage {
        uid: Some(3),
        modseq: None,
        flags: vec![],
        internal_date: t.timestamp(),
        raw: again.clone().into_bytes(),
    };
    a.store.messages().insert("becker", f.id, vec![m], None).unwrap();
    autoreply::pass(&a, &becker, t).unwrap();
    let recent = a.store.autoreply().recent("becker", 10).unwrap();
    assert_eq!(recent[0].reason, "reply_pending", "{recent:?}");
    // The waiting reply is cancelled (the leave ended): the sender was never answered.
    let (_, outbox_id, _) = a.store.autoreply().open_replies("becker").unwrap()[0];
    assert!(crate::outbox::cancel(&a, outbox_id, "test").unwrap());
    let m = crate::store::messages::NewMessage {
        uid: Some(4),
        modseq: None,
        flags: vec![],
        internal_date: t.timestamp(),
        raw: again.replace("<c2.20270102@kunde.test>", "<c3.20270102@kunde.test>").into_bytes(),
    };
    a.store.messages().insert("becker", f.id, vec![m], None).unwrap();
    autoreply::pass(&a, &becker, t).unwrap();
    let recent = a.store.autoreply().recent("becker", 10).unwrap();
    assert_eq!(recent[0].reason, "reply", "{recent:?}");
    assert_eq!(recent[1].reply_state, None);
    assert_eq!(recent[3].reply_state.as_deref(), Some("cancelled"), "{recent:?}");
}

/// Regression: a plain SQLite rowid hands the id of a deleted last row to the next insert. A
/// message expunged right after it was decided must not hide the next one from the cursor,
/// and the next one must get a new id (the store uses AUTOINCREMENT since).
#[test]
fn a_message_after_an_expunged_one_is_decided_under_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    autoreply::save_settings(&a, "becker", &Settings { is_enabled: true, ..Default::default() }).unwrap();
    let m = a.config.mailbox("becker").unwrap().clone();
    let now = Utc::now();
    autoreply::pass(&a, &m, now).unwrap();
    let t = now + chrono::Duration::seconds(5);
    let first = deliver(&a, "becker", "INBOX", "inbox", 1, "spam-flagged.eml", t);
    assert_eq!(autoreply::pass(&a, &m, t).unwrap(), 1);
    let inbox = a.store.folders().by_name("becker", "INBOX").unwrap().unwrap();
    assert_eq!(a.store.messages().expunge("becker", inbox.id, &[1], None).unwrap(), 1);
    let second = deliver(&a, "becker", "INBOX", "inbox", 2, "customer.eml", t);
    assert!(second > first, "ids are never reused: {second} after {first}");
    assert_eq!(autoreply::pass(&a, &m, t).unwrap(), 1, "the new message is decided");
    assert_eq!(a.store.autoreply().recent("becker", 1).unwrap()[0].sender.as_deref(), Some("mueller@kunde.test"));
}
