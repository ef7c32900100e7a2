//! Tests of the write-back queue's rules: the names ops carry and resolve to, what waits for
//! what, the retry schedule, and what a confirmed op records when the phone was faster.

use std::time::Duration;

use super::*;
use crate::store::email_set::{EmailUpdate, KeywordPatch};
use crate::store::folders::FolderState;
use crate::store::messages::NewMessage;

fn store() -> (tempfile::TempDir, Store) {
    let (d, s) = crate::store::test_store();
    s.folders().set_delimiter("becker", Some("/")).unwrap();
    (d, s)
}

/// Every queued op as `next` resolves it now, in order.
pub(crate) fn queue_now(s: &Store) -> Vec<QueuedOp> {
    let mut out = Vec::new();
    let mut after = 0;
    while let Some(q) = s.writeback().next("becker", after).unwrap() {
        after = q.id;
        out.push(q);
    }
    out
}

fn synced(s: &Store, folder: i64, uid: u32) -> i64 {
    let m = NewMessage {
        uid: Some(uid),
        modseq: None,
        flags: vec![],
        internal_date: 1_790_000_000,
        raw: format!("From: k@kunde.test\r\nMessage-ID: <{uid}@x>\r\nSubject: m{uid}\r\n\r\nbody\r\n").into_bytes(),
    };
    s.messages().insert("becker", folder, vec![m], Some(FolderState { uidvalidity: 1, ..Default::default() })).unwrap()
        [0]
}

#[test]
fn the_standard_schedule_gives_up_after_about_six_hours_and_twelve_attempts() {
    let r = RetrySchedule::standard();
    assert_eq!(r.attempts(), 12);
    assert_eq!(r.after(1), Some(Duration::from_secs(5)));
    assert_eq!(r.after(2), Some(Duration::from_secs(30)));
    assert_eq!(r.after(11), Some(Duration::from_secs(3600)));
    assert_eq!(r.after(12), None, "the twelfth refusal gives up");
    let total: Duration = r.0.iter().sum();
    assert!(total > Duration::from_secs(6 * 3600) && total < Duration::from_secs(7 * 3600), "{total:?}");
}

/// Regression: CREATE went out under the folder's name at write-back time, so a folder
/// created and renamed before its CREATE was written back was created under the new name and
/// the RENAME failed; a destroyed folder's CREATE went out under the store's own name for it.
#[test]
fn folder_ops_carry_the_names_they_were_queued_with() {
    let (_d, s) = store();
    let a = s.mailboxes().create_with("becker", "Angebote", false, None).unwrap().unwrap();
    s.mailboxes().rename("becker", a, "Angebote 2026").unwrap().unwrap();
    let b = s.mailboxes().create_with("becker", "Lager", false, None).unwrap().unwrap();
    s.mailboxes().destroy("becker", b, false).unwrap().unwrap();
    s.mailboxes().create_with("becker", "Lager", false, None).unwrap().unwrap();
    let ops: Vec<WritebackOp> = queue_now(&s).into_iter().map(|q| q.op).collect();
    assert_eq!(
        ops,
        vec![
            WritebackOp::Create { name: "Angebote".into() },
            WritebackOp::Wait,
            WritebackOp::Create { name: "Lager".into() },
            WritebackOp::Wait,
            WritebackOp::Wait,
        ],
        "each waits for the op on its name before it"
    );
    // Written back in order, each with its own names.
    let mut sent = Vec::new();
    while let Some(q) = queue_now(&s).into_iter().find(|q| q.op != WritebackOp::Wait) {
        sent.push(q.op.clone());
        s.writeback().done("becker", &q, WritebackEffect::None).unwrap();
    }
    assert_eq!(
        sent,
        vec![
            WritebackOp::Create { name: "Angebote".into() },
            WritebackOp::Rename { from: "Angebote".into(), to: "Angebote 2026".into() },
            WritebackOp::Create { name: "Lager".into() },
            WritebackOp::Delete { folder_id: Some(b), name: "Lager".into() },
            WritebackOp::Create { name: "Lager".into() },
        ]
    );
}

/// A message op's folder is the server's name at its place in the queue: a rename queued after
/// it is not done yet when it runs; a folder destroyed after it has the name its DELETE carries.
#[test]
fn a_message_ops_folder_is_named_for_its_place_in_the_queue() {
    let (_d, s) = store();
    let k = s.folders().ensure("becker", "Kunden", None).unwrap().id;
    let l = s.folders().ensure("becker", "Lager", None).unwrap().id;
    let m = synced(&s, k, 7);
    let n = synced(&s, k, 8);
    let o = synced(&s, l, 9);
    let flag = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$flagged".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(o, flag)], &[n]).unwrap().unwrap();
    s.mailboxes().rename("becker", l, "Lager alt").unwrap().unwrap();
    s.mailboxes().rename("becker", k, "Firma").unwrap().unwrap();
    s.mailboxes().destroy("becker", k, true).unwrap().unwrap();
    s.mailboxes().create_with("becker", "Firma", false, None).unwrap().unwrap();
    // Carried out in order (each confirmed before the next is looked at).
    let mut sent = Vec::new();
    while let Some(q) = queue_now(&s).into_iter().next() {
        sent.push(q.op.clone());
        s.writeback().done("becker", &q, WritebackEffect::None).unwrap();
    }
    let q = sent;
    assert!(matches!(&q[0], WritebackOp::Flags { folder, uid: 9, .. } if folder == "Lager"), "{:?}", q[0]);
    assert!(matches!(&q[1], WritebackOp::Expunge { folder, uid: 8, .. } if folder == "Kunden"), "{:?}", q[1]);
    assert!(matches!(&q[2], WritebackOp::Rename { from, to } if from == "Lager" && to == "Lager alt"));
    assert!(matches!(&q[3], WritebackOp::Rename { from, to } if from == "Kunden" && to == "Firma"));
    // The message destroyed with the folder: its expunge goes to the name before the DELETE.
    assert!(matches!(&q[4], WritebackOp::Expunge { folder, uid: 7, .. } if folder == "Firma"), "{:?}", q[4]);
    assert!(matches!(&q[5], WritebackOp::Delete { name, .. } if name == "Firma"));
    assert!(matches!(&q[6], WritebackOp::Create { name } if name == "Firma"));
    assert!(q.iter().all(|op| !format!("{op:?}").contains("destroyed")));
    let _ = m;
}

/// Regression: SQLite gave a new op the largest id + 1, so when a phone destroyed a message
/// whose APPEND was under way (its op the newest), the expunge of the new server copy took
/// the APPEND op's id and was deleted with it when the APPEND was confirmed: the copy stayed
/// on the server for good, tombstoned here. A MOVE under way is covered the same way.
#[test]
fn a_message_destroyed_while_its_append_or_move_runs_has_the_new_copy_expunged() {
    let (_d, s) = store();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    let other = s.folders().ensure("becker", "Archiv", None).unwrap().id;
    // An op that stays queued below the others.
    let held = synced(&s, inbox, 1);
    let flag = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$seen".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(held, flag)], &[]).unwrap().unwrap();
    let c = s.emails().create("becker", inbox, b"Subject: x\r\n\r\ny".to_vec(), &[], 1).unwrap().unwrap();
    let append = queue_now(&s).pop().unwrap();
    assert!(matches!(append.op, WritebackOp::Append { .. }));
    // The phone destroys it while the APPEND is on the wire; then the server confirms it.
    s.emails().set("becker", None, &[], &[c.id]).unwrap().unwrap();
    s.writeback().done("becker", &append, WritebackEffect::NewUid { uidvalidity: 1, uid: 40 }).unwrap();
    let q = queue_now(&s);
    assert!(q.iter().any(|q| matches!(q.op, WritebackOp::Expunge { uid: 40, .. })), "{q:?}");
    assert!(q.iter().all(|x| x.id != append.id), "no op takes the APPEND's id");

    let moved = synced(&s, inbox, 2);
    let mv = EmailUpdate { keywords: None, folder: Some(crate::store::email_set::MailboxPatch::Replace(vec![other])) };
    s.emails().set("becker", None, &[(moved, mv)], &[]).unwrap().unwrap();
    let mv = queue_now(&s).into_iter().find(|q| matches!(q.op, WritebackOp::Move { .. })).unwrap();
    s.emails().set("becker", None, &[], &[moved]).unwrap().unwrap();
    s.writeback().done("becker", &mv, WritebackEffect::NewUid { uidvalidity: 1, uid: 9 }).unwrap();
    let q = queue_now(&s);
    assert!(
        q.iter().any(|q| matches!(&q.op, WritebackOp::Expunge { uid: 9, folder, .. } if folder == "Archiv")),
        "{q:?}"
    );
}

/// A refused op waits for its due time and blocks later ops on its names meanwhile; other
/// ops go on.
#[test]
fn a_refused_op_waits_and_holds_back_only_what_depends_on_it() {
    let (_d, s) = store();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    let k = s.folders().ensure("becker", "Kunden", None).unwrap().id;
    let m = synced(&s, inbox, 3);
    s.mailboxes().rename("becker", k, "Firma").unwrap().unwrap();
    s.mailboxes().create_with("becker", "Firma/2026", false, None).unwrap().unwrap();
    let flag = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$seen".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(m, flag)], &[]).unwrap().unwrap();
    let q = queue_now(&s);
    let slow = RetrySchedule(vec![Duration::from_secs(3600)]);
    assert_eq!(s.writeback().refused(&q[0], "rename folder", "NO", &slow).unwrap(), Refused::RetryAt(now() + 3600));
    let q = queue_now(&s);
    assert_eq!(q[0].op, WritebackOp::Wait, "not due again");
    assert_eq!(q[1].op, WritebackOp::Wait, "the folder below the new name waits for the rename");
    assert!(matches!(q[2].op, WritebackOp::Flags { .. }), "an op on another folder goes on");
    let w = s.writeback().summary("becker").unwrap();
    assert_eq!((w.pending, w.next_retry_at, w.last_error.as_deref()), (3, Some(now() + 3600), Some("NO")));
    assert_eq!(s.writeback().next_due("becker", now()).unwrap(), Some(now() + 3600));
}

/// Regression (found by the convergence test): a folder listing taken just before a phone
/// destroyed or renamed a folder brought it back as a new, empty mailbox (the mirror checks
/// the names waiting in the queue before, not in, the transaction that makes the folder).
#[test]
fn a_folder_listing_taken_before_a_phones_destroy_or_rename_brings_nothing_back() {
    let (_d, s) = store();
    let gone = s.folders().ensure("becker", "Alt", None).unwrap().id;
    let moved = s.folders().ensure("becker", "Kunden", None).unwrap().id;
    s.mailboxes().destroy("becker", gone, false).unwrap().unwrap();
    s.mailboxes().rename("becker", moved, "Firma").unwrap().unwrap();
    // The listing still says "Alt" and "Kunden".
    assert_eq!(s.folders().ensure("becker", "Alt", None).unwrap().id, gone);
    assert_eq!(s.folders().ensure("becker", "Kunden", None).unwrap().id, moved);
    let names: Vec<String> = s.folders().all("becker").unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["Firma"], "no new mailbox");
    // A phone's new folder of the old name is a folder of its own.
    let again = s.mailboxes().create_with("becker", "Alt", false, None).unwrap().unwrap();
    assert_eq!(s.folders().ensure("becker", "Alt", None).unwrap().id, again);
}

/// Regression (found by the convergence test): a message moved into a folder created after its
/// first move waited for that CREATE, which waited for the move: the queue never emptied. And
/// a change to a message whose APPEND was given up waited for ever.
#[test]
fn an_op_waiting_for_a_later_create_does_not_hold_it_back() {
    let (_d, s) = store();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    let a = s.folders().ensure("becker", "Alt", None).unwrap().id;
    let m = synced(&s, inbox, 5);
    let to =
        |f: i64| EmailUpdate { keywords: None, folder: Some(crate::store::email_set::MailboxPatch::Replace(vec![f])) };
    s.emails().set("becker", None, &[(m, to(a))], &[]).unwrap().unwrap();
    let b = s.mailboxes().create_with("becker", "Neu", false, None).unwrap().unwrap();
    s.emails().set("becker", None, &[(m, to(b))], &[]).unwrap().unwrap();
    let mut sent = Vec::new();
    for _ in 0..10 {
        let Some(q) = queue_now(&s).into_iter().find(|q| q.op != WritebackOp::Wait) else { break };
        sent.push(q.op.clone());
        s.writeback().done("becker", &q, WritebackEffect::NewUid { uidvalidity: 1, uid: 6 }).unwrap();
    }
    assert_eq!(s.writeback().pending("becker").unwrap(), 0, "{sent:?}");
    assert!(matches!(&sent[0], WritebackOp::Create { name } if name == "Neu"), "{sent:?}");
    assert!(matches!(&sent[1], WritebackOp::Move { to, .. } if to == "Neu"), "{sent:?}");

    // A draft whose APPEND was given up: a later keyword change has nothing to wait for.
    let c = s.emails().create("becker", inbox, b"Subject: d\r\n\r\nx".to_vec(), &[], 1).unwrap().unwrap();
    let flag = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$seen".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(c.id, flag)], &[]).unwrap().unwrap();
    let append = queue_now(&s).remove(0);
    assert!(matches!(
        s.writeback().refused(&append, "append", "NO", &RetrySchedule(vec![])).unwrap(),
        Refused::GaveUp(_)
    ));
    assert_eq!(queue_now(&s)[0].op, WritebackOp::Obsolete);
}

/// The folder a message is shown in and held in, from the store.
fn placed(s: &Store, m: i64) -> Option<(i64, i64)> {
    s.read(|c| {
        Ok(c.query_row("SELECT folder_id, imap_folder_id FROM message WHERE id = ?1", [m], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
    })
    .unwrap()
}

/// Regression: a folder that dropped out of the server's list was destroyed with every message
/// in it, also those only the store had (a draft whose APPEND waited): a draft saved in a
/// folder whose CREATE was given up, or in a folder webmail deleted, was lost for good.
#[test]
fn a_message_only_the_store_has_survives_its_folder_going() {
    let (_d, s) = store();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    // A phone makes a folder and saves a draft in it; the server refuses the CREATE for good.
    let p = s.mailboxes().create_with("becker", "Baustelle", false, None).unwrap().unwrap();
    let draft = s.emails().create("becker", p, b"Subject: d\r\n\r\nx".to_vec(), &[], 1).unwrap().unwrap().id;
    let create = queue_now(&s).remove(0);
    assert!(matches!(create.op, WritebackOp::Create { .. }));
    assert!(matches!(
        s.writeback().refused(&create, "create", "NO", &RetrySchedule(vec![])).unwrap(),
        Refused::GaveUp(_)
    ));
    // Webmail deletes a folder while a draft's APPEND into it waits.
    let w = s.folders().ensure("becker", "Webmail", None).unwrap().id;
    let other = s.emails().create("becker", w, b"Subject: e\r\n\r\ny".to_vec(), &[], 1).unwrap().unwrap().id;
    let gone = s.folders().destroy_not_kept("becker", &[inbox]).unwrap();
    assert_eq!(gone, ["Baustelle", "Webmail"]);
    assert_eq!(placed(&s, draft), Some((inbox, inbox)), "the draft is kept, in the inbox");
    assert_eq!(placed(&s, other), Some((inbox, inbox)));
    let appends: Vec<String> = queue_now(&s)
        .into_iter()
        .filter_map(|q| match q.op {
            WritebackOp::Append { folder, .. } => Some(folder),
            _ => None,
        })
        .collect();
    assert_eq!(appends, ["INBOX", "INBOX"], "their APPENDs follow them");
}

/// The folder ops queued, as (kind, name, old name), in order; subscriptions left out.
fn folder_ops(s: &Store) -> Vec<(String, Option<String>, Option<String>)> {
    s.read(|c| {
        let mut st = c.prepare(
            "SELECT kind, name, old_name FROM writeback_op WHERE kind IN ('create', 'rename', 'delete') ORDER BY id",
        )?;
        Ok(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?)
    })
    .unwrap()
}

fn op(kind: &str, name: &str, old: Option<&str>) -> (String, Option<String>, Option<String>) {
    (kind.into(), Some(name.into()), old.map(String::from))
}

/// Give up the first op in the queue (it must be a RENAME).
fn give_up_first_rename(s: &Store) -> String {
    let q = queue_now(s).remove(0);
    assert!(matches!(q.op, WritebackOp::Rename { .. }), "{q:?}");
    match s.writeback().refused(&q, "rename folder", "NO", &RetrySchedule(vec![])).unwrap() {
        Refused::GaveUp(undone) => undone,
        r => panic!("{r:?}"),
    }
}

/// Regression: undoing a given-up rename rewrote every later folder op with the first rename's
/// names only. After A→B, B→C, a new folder "B" was created as "A" (the server's existing
/// folder: ALREADYEXISTS counted as done, the new folder never reached the server); a new
/// folder "C/x" kept "C/x" though the store renamed it to "A/x".
#[test]
fn undoing_a_rename_rewrites_later_names_along_the_chain_of_renames() {
    let (_d, s) = store();
    let f = s.folders().ensure("becker", "A", None).unwrap().id;
    s.mailboxes().rename("becker", f, "B").unwrap().unwrap();
    s.mailboxes().rename("becker", f, "C").unwrap().unwrap();
    s.mailboxes().create_with("becker", "B", false, None).unwrap().unwrap();
    let x = s.mailboxes().create_with("becker", "C/x", false, None).unwrap().unwrap();
    assert_eq!(give_up_first_rename(&s), "the folder is named \"A\" again");
    assert_eq!(folder_ops(&s), vec![op("create", "B", None), op("create", "A/x", None)]);
    let names: Vec<(i64, String)> = s.folders().all("becker").unwrap().into_iter().map(|f| (f.id, f.name)).collect();
    assert!(names.contains(&(f, "A".into())) && names.contains(&(x, "A/x".into())), "{names:?}");
    assert!(names.iter().any(|(_, n)| n == "B"), "{names:?}");
}

/// Regression: undoing a rename of a folder destroyed meanwhile rewrote nothing: its DELETE
/// and the expunges of its messages went to the name the server never got.
#[test]
fn undoing_a_rename_of_a_folder_destroyed_meanwhile_names_the_servers_folder() {
    let (_d, s) = store();
    let f = s.folders().ensure("becker", "A", None).unwrap().id;
    synced(&s, f, 4);
    s.mailboxes().rename("becker", f, "B").unwrap().unwrap();
    s.mailboxes().rename("becker", f, "C").unwrap().unwrap();
    s.mailboxes().destroy("becker", f, true).unwrap().unwrap();
    give_up_first_rename(&s);
    assert_eq!(folder_ops(&s), vec![op("delete", "A", None)]);
    let q = queue_now(&s).remove(0);
    assert!(matches!(&q.op, WritebackOp::Expunge { folder, uid: 4, .. } if folder == "A"), "{q:?}");
    s.writeback().done("becker", &q, WritebackEffect::None).unwrap();
    let q = queue_now(&s).remove(0);
    assert!(matches!(&q.op, WritebackOp::Delete { name, .. } if name == "A"), "{q:?}");
}

/// Regression: the wake-up for a refused op was looked for after the pass, among ops not due
/// yet, so one that fell due during the pass waited for the next poll. It counts from when
/// the drain began; one that was already due then (tried, or held back) does not count, so a
/// held-back op makes no busy loop.
#[test]
fn a_retry_that_falls_due_during_a_pass_wakes_the_write_back() {
    let (_d, s) = store();
    let k = s.folders().ensure("becker", "Kunden", None).unwrap().id;
    s.mailboxes().rename("becker", k, "Firma").unwrap().unwrap();
    let q = queue_now(&s).remove(0);
    let quick = RetrySchedule(vec![Duration::from_secs(5)]);
    let drained_at = now();
    assert!(matches!(s.writeback().refused(&q, "rename folder", "NO", &quick).unwrap(), Refused::RetryAt(_)));
    // The pass took longer than the wait: the op fell due during it.
    s.write(|t| Ok(t.tx.execute("UPDATE writeback_op SET due_at = ?1", [now() - 1])?)).unwrap();
    assert_eq!(s.writeback().next_due("becker", drained_at - 10).unwrap(), Some(now() - 1), "drain again now");
    assert_eq!(s.writeback().next_due("becker", now()).unwrap(), None, "looked at by the next drain");
}

/// Regression: the server's subscriptions, read while a phone's rename waited (listed under
/// the old names), unsubscribed the renamed folder and those below it; and the RENAME alone
/// need not move the subscription on the server.
#[test]
fn a_rename_keeps_the_subscriptions_and_queues_them_under_the_new_names() {
    let (_d, s) = store();
    s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let k = s.folders().ensure("becker", "Kunden", None).unwrap().id;
    let x = s.folders().ensure("becker", "Kunden/Meier", None).unwrap().id;
    let lsub = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        s.folders().set_subscriptions("becker", &names).unwrap()
    };
    lsub(&["INBOX", "Kunden", "Kunden/Meier"]);
    s.mailboxes().rename("becker", k, "Firma").unwrap().unwrap();
    let names: Vec<(String, Option<String>)> = s
        .read(|c| {
            let mut st =
                c.prepare("SELECT name, old_name FROM writeback_op WHERE kind = 'subscribe' AND uid = 1 ORDER BY id")?;
            Ok(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?)
        })
        .unwrap();
    assert_eq!(names, [("Firma".to_string(), None), ("Firma/Meier".to_string(), None)], "each new name subscribed");
    // The server's list, taken before the RENAME reached it, changes nothing meanwhile.
    lsub(&["INBOX", "Kunden", "Kunden/Meier"]);
    let on = |id: i64| s.mailboxes().all("becker").unwrap().into_iter().find(|m| m.id == id).unwrap().subscribed;
    assert!(on(k) && on(x));
}

/// Regression: migration 0015 run again (as tests do, resetting `user_version`) dropped the
/// retry waits (the copy left `due_at` out) and restarted the id counter, so a new op took
/// the id of one deleted before.
#[test]
fn migration_0015_run_again_keeps_the_waits_and_the_id_counter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postbote.db");
    let (due, last) = {
        let s = Store::open(&path).unwrap();
        s.ensure_accounts(["becker"]).unwrap();
        s.folders().set_delimiter("becker", Some("/")).unwrap();
        let k = s.folders().ensure("becker", "Kunden", None).unwrap().id;
        let l = s.folders().ensure("becker", "Lager", None).unwrap().id;
        s.mailboxes().rename("becker", k, "Firma").unwrap().unwrap();
        s.mailboxes().rename("becker", l, "Lager alt").unwrap().unwrap();
        let q = queue_now(&s);
        let due = match s.writeback().refused(&q[0], "rename", "NO", &RetrySchedule(vec![Duration::from_secs(600)])) {
            Ok(Refused::RetryAt(at)) => at,
            r => panic!("{r:?}"),
        };
        s.writeback().done("becker", &q[1], WritebackEffect::None).unwrap();
        (due, q[1].id)
    };
    rusqlite::Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 14;").unwrap();
    let s = Store::open(&path).unwrap();
    assert_eq!(s.writeback().next_due("becker", 0).unwrap(), Some(due), "the wait is kept");
    let k = s.folders().by_name("becker", "Firma").unwrap().unwrap().id;
    s.mailboxes().rename("becker", k, "Firma 2").unwrap().unwrap();
    let newest = queue_now(&s).last().unwrap().id;
    assert!(newest > last, "a new op takes no old id: {newest} after {last}");
}

/// A refusal of an op a phone withdrew meanwhile is no give-up: nothing is counted or logged.
#[test]
fn a_refused_op_withdrawn_meanwhile_is_not_given_up() {
    let (_d, s) = store();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    let c = s.emails().create("becker", inbox, b"Subject: d\r\n\r\nx".to_vec(), &[], 1).unwrap().unwrap();
    let append = queue_now(&s).remove(0);
    s.emails().set("becker", None, &[], &[c.id]).unwrap().unwrap();
    let r = s.writeback().refused(&append, "append", "NO", &RetrySchedule(vec![])).unwrap();
    assert_eq!(r, Refused::Withdrawn);
    assert_eq!(s.writeback().summary("becker").unwrap().dropped, 0);
}

/// Regression: Email/copy with onSuccessDestroyOriginal queued the original's expunge in its
/// own account's queue, tied to nothing: when the copy's APPEND was given up, the original was
/// gone from its server and the copy existed only here. The expunge now waits for the APPEND
/// and goes with it when that is given up (the original comes back).
#[test]
fn an_original_moved_to_another_account_leaves_its_server_only_after_the_copy_arrived() {
    let (_d, s) = store();
    s.ensure_accounts(["buero"]).unwrap();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    let target = s.folders().ensure("buero", "INBOX", Some("inbox")).unwrap().id;
    s.write(|t| Ok(t.tx.execute("UPDATE folder SET uidnext = 10 WHERE id = ?1", [inbox]).map(|_| ())?)).unwrap();
    let copy_of = |uid: u32| {
        let original = synced(&s, inbox, uid);
        let raw = s.messages().raw(original).unwrap().unwrap();
        let copy = s.emails().create("buero", target, raw, &[], 1).unwrap().unwrap().id;
        s.emails().copied_from(copy, original).unwrap();
        s.emails().set("becker", None, &[], &[original]).unwrap().unwrap();
        copy
    };
    let append_of = |copy: i64| {
        let mut after = 0;
        while let Some(q) = s.writeback().next("buero", after).unwrap() {
            after = q.id;
            if matches!(q.op, WritebackOp::Append { message_id, .. } if message_id == copy) {
                return q;
            }
        }
        panic!("no APPEND of {copy}")
    };
    // Confirmed: then the original's expunge goes.
    let first = copy_of(1);
    assert_eq!(queue_now(&s).remove(0).op, WritebackOp::Wait, "the expunge waits for the APPEND");
    let append = append_of(first);
    assert_eq!(s.writeback().waiting_for(append.id).unwrap(), ["becker"], "woken when it is done");
    s.writeback().done("buero", &append, WritebackEffect::NewUid { uidvalidity: 1, uid: 1 }).unwrap();
    let q = queue_now(&s).remove(0);
    assert!(matches!(q.op, WritebackOp::Expunge { uid: 1, .. }), "{q:?}");
    s.writeback().done("becker", &q, WritebackEffect::None).unwrap();
    // Given up: the original's expunge and tombstone go with it.
    let second = copy_of(2);
    assert_eq!(queue_now(&s).remove(0).op, WritebackOp::Wait);
    let r = s.writeback().refused(&append_of(second), "append", "NO", &RetrySchedule(vec![])).unwrap();
    assert!(matches!(&r, Refused::GaveUp(u) if u.contains("original comes back")), "{r:?}");
    assert!(queue_now(&s).is_empty(), "the expunge is dropped");
    assert_eq!(s.folders().uids(inbox).unwrap(), Vec::<u32>::new(), "no tombstone: the mirror fetches it again");
    // ... from UID 2 on: the mirror looks only from the folder's UIDNEXT up.
    assert_eq!(s.folders().by_name("becker", "INBOX").unwrap().unwrap().uidnext, Some(2));
}
