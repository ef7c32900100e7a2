//! Unit tests of the queue's tables (`store::outbox`): the state machine a crash must not
//! break, the lifetime, and what follows a state change in the same transaction.

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    crate::store::test_store()
}

/// A message of "becker" from the office to `to` (also used by the rate tests).
pub(crate) fn new(to: &[&str]) -> NewOutboxMessage {
    NewOutboxMessage {
        account: "becker".into(),
        origin: "office",
        message_id: "x@bau-firma.test".into(),
        from_addr: "becker@bau-firma.test".into(),
        subject: "s".into(),
        raw: b"From: becker@bau-firma.test\r\n\r\nhi\r\n".to_vec(),
        recipients: to.iter().map(|s| s.to_string()).collect(),
        discard_after: None,
    }
}

#[test]
fn sending_at_startup_becomes_unknown_and_is_never_due_again() {
    let (_d, s) = store();
    let id = s.outbox().insert(&new(&["a@kunde.test"])).unwrap();
    assert!(s.outbox().begin(id).unwrap());
    assert_eq!(s.outbox().in_flight(id).unwrap(), vec!["a@kunde.test"], "begun: its recipients are in flight");
    assert!(!s.outbox().begin(id).unwrap(), "a message being sent cannot be begun twice");
    let u = s.outbox().mark_unknown().unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(s.outbox().state(id).unwrap(), Some(State::Unknown));
    assert!(s.outbox().next("becker", now() + 10_000).unwrap().is_none());
    assert_eq!(s.outbox().retry(id, "test").unwrap().as_deref(), Some("becker"));
    assert_eq!(s.outbox().next("becker", now()).unwrap().unwrap().pending, vec!["a@kunde.test"]);
}

/// What follows a message's state changes with it, in the same transaction: no poller.
/// The phone's EmailSubmission logs one update per change (for `/changes` and push), the
/// auto-reply record keeps the state and the time it was first sent.
#[test]
fn a_state_change_updates_the_submission_and_the_autoreply_record_at_once() {
    let (_d, s) = store();
    s.ensure_accounts(["becker"]).unwrap();
    let id = s.outbox().insert(&new(&["a@kunde.test"])).unwrap();
    let (sub, reply) = s
        .write(|t| {
            t.tx.execute(
                "INSERT INTO email_submission (account, email_id, thread_id, identity, outbox_id, envelope, send_at)
                 VALUES ('becker', 1, 1, 'i', ?1, '{}', 0)",
                [id],
            )?;
            let sub = t.tx.last_insert_rowid();
            t.tx.execute(
                "INSERT INTO autoreply_reply (account, sender, outbox_id, message_id, queued_at)
                 VALUES ('becker', 'k@kunde.test', ?1, 'x@bau-firma.test', 0)",
                [id],
            )?;
            Ok((sub, t.tx.last_insert_rowid()))
        })
        .unwrap();
    let seen = |s: &Store| {
        s.read(|c| {
            let updates: i64 = c.query_row(
                "SELECT COUNT(*) FROM change_log WHERE account = 'becker' AND type = ?1 AND object_id = ?2 AND op = ?3",
                params![ObjType::EmailSubmission as i64, sub, Op::Updated as i64],
                |r| r.get(0),
            )?;
            let last: Option<State> =
                c.query_row("SELECT last_status FROM email_submission WHERE id = ?1", [sub], |r| r.get(0))?;
            let (state, sent_at): (String, Option<i64>) =
                c.query_row("SELECT state, sent_at FROM autoreply_reply WHERE id = ?1", [reply], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            Ok((updates, last, state, sent_at.is_some()))
        })
        .unwrap()
    };
    assert_eq!(seen(&s), (0, None, "queued".to_string(), false));
    assert!(s.outbox().begin_counted(id, &[], now(), &["a@kunde.test".to_string()]).unwrap());
    assert_eq!(seen(&s), (1, Some(State::Sending), "sending".to_string(), false));
    let done = AttemptResult {
        server: "s".into(),
        recipients: vec![("a@kunde.test".into(), RcptOutcome::Sent, Some(250), "delivered".into())],
        notes: vec![],
        status: State::Sent,
        due_at: None,
        last_error: None,
    };
    s.outbox().finish(id, &done).unwrap();
    assert_eq!(seen(&s), (2, Some(State::Sent), "sent".to_string(), true));
    // A cancel of another message, and an expiry, follow the same way.
    let b = s.outbox().insert(&new(&["b@kunde.test"])).unwrap();
    s.write(|t| {
        t.tx.execute(
            "UPDATE autoreply_reply SET outbox_id = ?1, state = 'queued', sent_at = NULL WHERE id = ?2",
            params![b, reply],
        )?;
        Ok(())
    })
    .unwrap();
    assert!(s.outbox().cancel(b, "test").unwrap());
    assert_eq!(seen(&s).2, "cancelled");
}

#[test]
fn expiry_uses_open_time_and_discard_cancels() {
    let (_d, s) = store();
    let a = s.outbox().insert(&new(&["a@kunde.test"])).unwrap();
    let mut n = new(&["b@kunde.test"]);
    n.discard_after = Some(now() - 1);
    let b = s.outbox().insert(&n).unwrap();
    s.outbox().add_open_time(&["becker".into()], 99, now()).unwrap();
    let e = s.outbox().expire(100, now()).unwrap();
    assert!(e.is_empty());
    assert_eq!(s.outbox().state(b).unwrap(), Some(State::Cancelled));
    s.outbox().add_open_time(&["becker".into()], 1, now()).unwrap();
    assert_eq!(s.outbox().expire(100, now()).unwrap(), vec![(a, "becker".to_string())]);
    assert_eq!(s.outbox().state(a).unwrap(), Some(State::Expired));
}
