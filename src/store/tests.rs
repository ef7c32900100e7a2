//! Tests that cross the store's table families: what a device writes, the write-back queue
//! that carries it to IMAP, and the change log that tells the other devices, together.
//!
//! Each file's own tests stay beside it; these need several families at once.

use super::changes::ChangesError;
use super::email_query::EmailFilter;
use super::email_set::{EmailUpdate, KeywordPatch, MailboxPatch, SetFailure};
use super::folders::FolderState;
use super::messages::NewMessage;
use super::writeback::{Refused, RetrySchedule, WritebackEffect, WritebackOp};

/// Five attempts, each due again at once.
fn five() -> RetrySchedule {
    RetrySchedule(vec![std::time::Duration::ZERO; 4])
}
use super::{ObjType, Op, Result, Store, StoreError};

fn store() -> (tempfile::TempDir, Store) {
    crate::store::test_store()
}

/// Messages as a sync stores them (with their UIDs, in a folder of UIDVALIDITY 1).
fn synced(s: &Store, folder: i64, uids: &[u32]) -> Vec<i64> {
    let msgs = uids.iter().map(|u| msg(*u)).collect();
    s.messages().insert("becker", folder, msgs, Some(FolderState { uidvalidity: 1, ..Default::default() })).unwrap()
}

fn msg(uid: u32) -> NewMessage {
    NewMessage {
        uid: Some(uid),
        modseq: None,
        flags: vec![],
        internal_date: 1_790_000_000 + uid as i64,
        raw: format!("From: k@kunde.test\r\nMessage-ID: <{uid}@x>\r\nSubject: m{uid}\r\n\r\nbody {uid}\r\n")
            .into_bytes(),
    }
}

#[test]
fn changes_coalesce_and_page_on_modseq_boundaries() {
    let (_d, s) = store();
    let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let since = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Email);
    // Three separate transactions of one message each, then a keyword change on the first.
    let mut ids = Vec::new();
    for uid in 1..=3 {
        ids.extend(synced(&s, f.id, &[uid]));
    }
    let upd = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$Seen".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(ids[0], upd)], &[]).unwrap().unwrap();
    let all = s.changes().since("becker", ObjType::Email, since, 100).unwrap().unwrap();
    assert_eq!(all.created, ids, "created then updated is reported as created");
    assert!(all.updated.is_empty() && all.destroyed.is_empty() && !all.has_more);
    let page = s.changes().since("becker", ObjType::Email, since, 2).unwrap().unwrap();
    assert_eq!(page.created, ids[..2].to_vec());
    assert!(page.has_more);
    let rest = s.changes().since("becker", ObjType::Email, page.new_modseq, 2).unwrap().unwrap();
    assert_eq!(rest.created, vec![ids[2]]);
    assert_eq!(rest.updated, vec![ids[0]]);
    assert!(!rest.has_more);
    // Mailbox: only counts changed.
    let mb = s.changes().since("becker", ObjType::Mailbox, since, 100).unwrap().unwrap();
    assert!(mb.counts_only);
    // Keyword pending row and a write-back op exist for the change.
    assert_eq!(s.writeback().pending("becker").unwrap(), 1);
    let q = s.writeback().next("becker", 0).unwrap().unwrap();
    assert!(matches!(&q.op, WritebackOp::Flags { add, .. } if add == &vec!["$seen".to_string()]));
    s.writeback().done("becker", &q, WritebackEffect::None).unwrap();
    assert_eq!(s.writeback().pending("becker").unwrap(), 0);
}

#[test]
fn a_refused_store_is_retried_then_dropped_with_its_pending_keywords() {
    let (_d, s) = store();
    let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let ids = synced(&s, f.id, &[1]);
    let upd = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$flagged".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(ids[0], upd)], &[]).unwrap().unwrap();
    for attempt in 1..=5 {
        let q = s.writeback().next("becker", 0).unwrap().unwrap();
        assert_eq!(q.attempts, attempt - 1);
        assert_eq!(
            matches!(s.writeback().refused(&q, "store flags", "NO refused", &five()).unwrap(), Refused::GaveUp(_)),
            attempt == 5
        );
        if attempt == 1 {
            let w = s.writeback().summary("becker").unwrap();
            assert_eq!((w.pending, w.last_error.as_deref(), w.dropped), (1, Some("NO refused"), 0));
            assert!(w.oldest_at.is_some());
        }
    }
    assert_eq!(s.writeback().pending("becker").unwrap(), 0);
    let w = s.writeback().summary("becker").unwrap();
    assert_eq!((w.pending, w.dropped, w.last_dropped.as_deref()), (0, 1, Some("store flags: NO refused")));
    let pending: i64 = s.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM keyword_pending", [], |r| r.get(0))?)).unwrap();
    assert_eq!(pending, 0, "the server's flags win again after the change was given up");
}

/// A move or a folder rename the server refuses for good is undone in the store: the
/// message shows where the server keeps it, the folder (and the one below it) its old name.
#[test]
fn a_refused_move_or_rename_given_up_shows_the_servers_state_again() {
    let (_d, s) = store();
    s.folders().set_delimiter("becker", Some("/")).unwrap();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let kunden = s.folders().ensure("becker", "Kunden", None).unwrap();
    let meier = s.folders().ensure("becker", "Kunden/Meier", None).unwrap();
    let ids = synced(&s, inbox.id, &[1]);
    let mv = EmailUpdate { keywords: None, folder: Some(MailboxPatch::Replace(vec![meier.id])) };
    s.emails().set("becker", None, &[(ids[0], mv)], &[]).unwrap().unwrap();
    s.mailboxes().rename("becker", kunden.id, "Firma").unwrap().unwrap();
    assert_eq!(s.messages().list("becker", Some("Firma/Meier"), 10).unwrap().len(), 1);
    for _ in 0..5 {
        let mut after = 0;
        while let Some(q) = s.writeback().next("becker", after).unwrap() {
            after = q.id;
            s.writeback().refused(&q, "x", "NO refused", &five()).unwrap();
        }
    }
    assert_eq!(s.writeback().pending("becker").unwrap(), 0);
    let names: Vec<String> = s.folders().all("becker").unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, vec!["INBOX", "Kunden", "Kunden/Meier"]);
    assert_eq!(s.messages().list("becker", Some("INBOX"), 10).unwrap().len(), 1, "back where the server has it");
    assert_eq!(s.writeback().summary("becker").unwrap().dropped, 2);
}

/// While a folder RENAME waits (the server may refuse it: the new name can be another,
/// unmirrored folder there), every change that touches the new name waits too; when the
/// rename is given up, later renames of that folder go with it, the folder gets its old
/// name back, and the waiting changes then go to the old name. An undo that would collide
/// with a live folder is skipped instead of failing the drain.
#[test]
fn changes_wait_for_a_pending_rename_and_follow_its_undo() {
    let (_d, s) = store();
    s.folders().set_delimiter("becker", Some("/")).unwrap();
    let kunden = s.folders().ensure("becker", "Kunden", None).unwrap();
    let ids = synced(&s, kunden.id, &[7]);
    s.mailboxes().rename("becker", kunden.id, "Archiv").unwrap().unwrap();
    s.mailboxes().rename("becker", kunden.id, "Archiv 2").unwrap().unwrap();
    let flag = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$flagged".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(ids[0], flag)], &[]).unwrap().unwrap();
    let q = super::writeback::tests::queue_now(&s);
    assert!(matches!(&q[0].op, WritebackOp::Rename { from, to } if from == "Kunden" && to == "Archiv"));
    assert_eq!(q[1].op, WritebackOp::Wait, "the second rename waits for the first");
    assert_eq!(q[2].op, WritebackOp::Wait, "the flag change waits: \"Archiv 2\" is not on the server yet");
    // The server refuses the first rename five times: it is given up and undone.
    for _ in 0..5 {
        let first = s.writeback().next("becker", 0).unwrap().unwrap();
        s.writeback().refused(&first, "rename folder", "NO [ALREADYEXISTS] Mailbox already exists", &five()).unwrap();
    }
    assert_eq!(s.folders().all("becker").unwrap()[0].name, "Kunden");
    let q = super::writeback::tests::queue_now(&s);
    assert_eq!(q.len(), 1, "the later rename went with the first");
    assert!(matches!(&q[0].op, WritebackOp::Flags { folder, uid: 7, .. } if folder == "Kunden"), "{:?}", q[0].op);

    // An undo that would take a name a live folder has meanwhile is skipped, not an error.
    s.writeback().done("becker", &q[0], WritebackEffect::None).unwrap();
    s.mailboxes().rename("becker", kunden.id, "Neu").unwrap().unwrap();
    let other = s.mailboxes().create("becker", "Kunden").unwrap().unwrap();
    for _ in 0..5 {
        let first = s.writeback().next("becker", 0).unwrap().unwrap();
        assert!(matches!(first.op, WritebackOp::Rename { .. }));
        s.writeback().refused(&first, "rename folder", "NO", &five()).unwrap();
    }
    let names: Vec<(i64, String)> = s.folders().all("becker").unwrap().into_iter().map(|f| (f.id, f.name)).collect();
    assert_eq!(names, vec![(kunden.id, "Neu".to_string()), (other, "Kunden".to_string())]);

    // A rename onto a name with mailboxes below it is refused up front.
    s.folders().ensure("becker", "Lager/2025", None).unwrap();
    assert!(matches!(s.mailboxes().rename("becker", kunden.id, "Lager").unwrap(), Err(SetFailure::AlreadyExists(_))));
}

/// Regression: SQLite reuses the largest rowid after a delete; a JMAP id must never be.
#[test]
fn a_destroyed_newest_message_never_lends_its_id() {
    let (_d, s) = store();
    let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let ids = s.messages().insert("becker", f.id, vec![msg(1), msg(2)], None).unwrap();
    s.emails().set("becker", None, &[], &[ids[1]]).unwrap().unwrap();
    let again = s.messages().insert("becker", f.id, vec![msg(3)], None).unwrap();
    assert!(again[0] > ids[1], "{again:?} reuses {}", ids[1]);
}

#[test]
fn one_huge_transaction_over_max_changes_cannot_be_split() {
    let (_d, s) = store();
    let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let since = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Email);
    s.messages().insert("becker", f.id, (1..=5).map(msg).collect(), None).unwrap();
    assert_eq!(s.changes().since("becker", ObjType::Email, since, 3).unwrap(), Err(ChangesError::TooMany));
    assert_eq!(s.changes().since("becker", ObjType::Email, since, 5).unwrap().unwrap().created.len(), 5);
}

#[test]
fn folders_made_or_renamed_by_a_device_stay_mirrored_and_protected_until_written_back() {
    let (_d, s) = store();
    s.folders().set_delimiter("becker", Some("/")).unwrap();
    let configured = s.folders().ensure("becker", "Projekte", None).unwrap();
    let child = s.folders().ensure("becker", "Projekte/Bad", None).unwrap();
    let made = s.mailboxes().create("becker", "Erledigt").unwrap().unwrap();
    assert_eq!(s.folders().made_by_devices("becker").unwrap(), vec!["Erledigt".to_string()]);
    s.mailboxes().rename("becker", configured.id, "Projekte 2026").unwrap().unwrap();
    let mut names = s.folders().made_by_devices("becker").unwrap();
    names.sort();
    assert_eq!(names, vec!["Erledigt", "Projekte 2026", "Projekte 2026/Bad"], "the child moved along");
    assert_eq!(s.folders().names_in_flux("becker").unwrap(), vec!["Projekte".to_string(), "Projekte 2026".to_string()]);
    // While the CREATE and RENAME wait, a server list without them destroys nothing.
    assert!(s.folders().destroy_not_kept("becker", &[]).unwrap().is_empty());
    assert_eq!(s.folders().all("becker").unwrap().len(), 3);
    // Written back: nothing is in flux; a folder the server no longer has goes now.
    while let Some(q) = s.writeback().next("becker", 0).unwrap() {
        s.writeback().done("becker", &q, WritebackEffect::None).unwrap();
    }
    assert!(s.folders().names_in_flux("becker").unwrap().is_empty());
    let gone = s.folders().destroy_not_kept("becker", &[configured.id, child.id]).unwrap();
    assert_eq!(gone, vec!["Erledigt".to_string()]);
    assert_eq!(s.folders().made_by_devices("becker").unwrap().len(), 2);
    let _ = made;
}

/// A folder that appears or goes changes the parent of the folders below it: those are
/// logged as updated Mailboxes. A rename may take a name (and its children names) that a
/// destroyed folder's row still holds.
#[test]
fn tree_changes_reach_mailbox_changes_and_destroyed_names_are_free_again() {
    let (_d, s) = store();
    s.folders().set_delimiter("becker", Some("/")).unwrap();
    let bad = s.folders().ensure("becker", "Projekte/Bad", None).unwrap().id;
    let since = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Mailbox);
    let parent = s.mailboxes().create("becker", "Projekte").unwrap().unwrap();
    let c = s.changes().since("becker", ObjType::Mailbox, since, 100).unwrap().unwrap();
    assert_eq!((c.created, c.updated), (vec![parent], vec![bad]), "Bad is now below Projekte");
    while let Some(q) = s.writeback().next("becker", 0).unwrap() {
        s.writeback().done("becker", &q, WritebackEffect::None).unwrap();
    }

    let alt = s.folders().ensure("becker", "Alt", None).unwrap().id;
    let alt_child = s.folders().ensure("becker", "Alt/2025", None).unwrap().id;
    s.folders().ensure("becker", "Neu", None).unwrap();
    s.folders().ensure("becker", "Neu/2025", None).unwrap();
    let keep: Vec<i64> =
        s.folders().all("becker").unwrap().into_iter().filter(|f| !f.name.starts_with("Neu")).map(|f| f.id).collect();
    assert_eq!(s.folders().destroy_not_kept("becker", &keep).unwrap().len(), 2);
    s.mailboxes().rename("becker", alt, "Neu").unwrap().unwrap();
    let names: Vec<(i64, String)> = s.folders().all("becker").unwrap().into_iter().map(|f| (f.id, f.name)).collect();
    assert!(names.contains(&(alt, "Neu".into())) && names.contains(&(alt_child, "Neu/2025".into())), "{names:?}");
}

/// Bodies sent base64 or quoted-printable, in UTF-8 or ISO-8859-1, or as HTML only, are
/// found by the words a person reads in them, in any letter case, umlauts included, also
/// far beyond the preview; a store from before the search text existed is filled in.
#[test]
fn text_and_body_search_the_decoded_body() {
    use base64::Engine as _;
    let (dir, s) = store();
    let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let filler = "Sehr geehrte Damen und Herren, wir kommen auf Ihr Angebot zurück. ".repeat(20);
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{filler}Bitte um Rückruf wegen Fliesen."));
    let raw = |uid: u32, headers: &str, body: &str| NewMessage {
        uid: Some(uid),
        modseq: None,
        flags: vec![],
        internal_date: 1_790_000_000,
        raw: format!("From: k@kunde.test\r\nSubject: s{uid}\r\nMIME-Version: 1.0\r\n{headers}\r\n\r\n{body}\r\n")
            .into_bytes(),
    };
    let mut latin = format!("From: k@kunde.test\r\nSubject: s4\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{filler}").into_bytes();
    latin.extend_from_slice(b"Gr\xfc\xdfe, Ihr K\xf6hler\r\n");
    let ids = s
        .messages()
        .insert(
            "becker",
            f.id,
            vec![
                raw(1, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64", &b64),
                raw(
                    2,
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable",
                    &format!("{filler}Die Rechnung f=C3=BCr das B=C3=BCro"),
                ),
                raw(
                    3,
                    "Content-Type: text/html; charset=utf-8",
                    &format!("<html><body><p>{filler}</p><p>Termin am <b>Donnerstag</b></p></body></html>"),
                ),
                NewMessage { raw: latin, ..raw(4, "", "") },
                raw(5, "Content-Type: text/plain; charset=utf-8", "Wir bitten um\r\nAnruf,   morgen\r\n\r\n  früh."),
                raw(
                    6,
                    "Content-Type: multipart/mixed; boundary=\"b\"",
                    &format!(
                        "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--",
                        base64::engine::general_purpose::STANDARD.encode([0xABu8; 3000])
                    ),
                ),
            ],
            None,
        )
        .unwrap();
    let find = |s: &Store, needle: &str| -> Vec<i64> {
        let got = matching(s, &EmailFilter::Text(needle.into()));
        let body = matching(s, &EmailFilter::Body(needle.into()));
        assert_eq!(body.len(), got.len(), "{needle}: body and text agree on body words");
        got
    };
    assert_eq!(find(&s, "RÜCKRUF"), vec![ids[0]], "base64, upper case with an umlaut");
    assert_eq!(find(&s, "für das büro"), vec![ids[1]], "quoted-printable");
    assert_eq!(find(&s, "termin am donnerstag"), vec![ids[2]], "HTML as text, without its tags");
    assert_eq!(find(&s, "ihr köhler"), vec![ids[3]], "ISO-8859-1");
    assert!(find(&s, "<b>").is_empty(), "markup is not text");
    assert_eq!(find(&s, "bitten um anruf, morgen früh"), vec![ids[4]], "a phrase across line breaks");
    assert_eq!(find(&s, "bitten um\n Anruf"), vec![ids[4]], "white space in the needle counts as one");
    assert!(find(&s, "q6ur").is_empty(), "an attachment's base64 is not text");
    assert_eq!(find(&s, "angebot").len(), 4);

    // A store from before: the search text is gone, as it was then; opening it again
    // with the migration to apply fills it in.
    s.write(|t| {
        t.tx.execute_batch("DROP TABLE message_text; PRAGMA user_version = 6;")?;
        Ok(())
    })
    .unwrap();
    drop(s);
    let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
    assert_eq!(find(&s, "rückruf"), vec![ids[0]]);
    assert_eq!(find(&s, "angebot").len(), 4);
}

#[test]
fn purge_makes_old_states_uncalculable() {
    let (_d, s) = store();
    let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    s.messages().insert("becker", f.id, vec![msg(1)], None).unwrap();
    let mid = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Email);
    s.write(|t| {
        t.tx.execute("UPDATE change_log SET at = at - 40 * 86400", [])?;
        Ok(())
    })
    .unwrap();
    s.messages().insert("becker", f.id, vec![msg(2)], None).unwrap();
    assert!(s.changes().purge(30 * 86_400).unwrap() > 0);
    assert_eq!(s.changes().since("becker", ObjType::Email, 0, 100).unwrap(), Err(ChangesError::TooOld));
    assert_eq!(s.changes().since("becker", ObjType::Email, mid, 100).unwrap().unwrap().created.len(), 1);
}

#[test]
fn move_destroy_and_draft_queue_writeback_and_tombstone() {
    let (_d, s) = store();
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let trash = s.folders().ensure("becker", "Trash", Some("trash")).unwrap();
    let ids = synced(&s, inbox.id, &[1, 2]);
    let mv = EmailUpdate { keywords: None, folder: Some(MailboxPatch::Set(vec![(inbox.id, false), (trash.id, true)])) };
    let (up, de) = s.emails().set("becker", None, &[(ids[0], mv)], &[ids[1], 999]).unwrap().unwrap();
    assert_eq!(up, vec![Ok(())]);
    assert_eq!(de, vec![Ok(()), Err(SetFailure::NotFound)]);
    // The destroyed UID is tombstoned: a sync does not bring it back.
    assert!(s.messages().insert("becker", inbox.id, vec![msg(2)], None).unwrap().is_empty());
    let q1 = s.writeback().next("becker", 0).unwrap().unwrap();
    assert!(matches!(&q1.op, WritebackOp::Move { uid: 1, to, .. } if to == "Trash"));
    let q2 = s.writeback().next("becker", q1.id).unwrap().unwrap();
    assert!(matches!(&q2.op, WritebackOp::Expunge { uid: 2, .. }));
    s.writeback().done("becker", &q1, WritebackEffect::NewUid { uidvalidity: 9, uid: 44 }).unwrap();
    let moved = s.emails().get("becker", &[ids[0]]).unwrap();
    assert_eq!(moved[0].folder_id, trash.id);
    // A stale state is refused.
    assert!(s.emails().set("becker", Some(0), &[], &[]).unwrap().is_none());
    // A draft.
    let c = s
        .emails()
        .create(
            "becker",
            inbox.id,
            b"From: becker@bau-firma.test\r\nSubject: d\r\n\r\nx".to_vec(),
            &["$draft".into()],
            1_790_000_000,
        )
        .unwrap()
        .unwrap();
    let q3 = s.writeback().next("becker", q2.id).unwrap().unwrap();
    assert!(
        matches!(&q3.op, WritebackOp::Append { message_id, flags, .. } if *message_id == c.id && flags == &vec!["\\Draft".to_string()])
    );
}

#[test]
fn migrations_apply_once_and_bump_broadcasts_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = Store::open(&path).unwrap();
    store.ensure_accounts(["becker"]).unwrap();
    let mut rx = store.subscribe();
    let m = store
        .write(|t| {
            t.log("becker", ObjType::Email, 7, Op::Created, None)?;
            t.log("becker", ObjType::Mailbox, 1, Op::CountsOnly, None)?;
            t.bump("becker")
        })
        .unwrap();
    assert_eq!(m, 1, "one modseq per transaction");
    let c = rx.try_recv().unwrap();
    assert_eq!(c.modseq, 1);
    assert_eq!(c.types, [ObjType::Mailbox, ObjType::Email].into_iter().collect());
    // A failed transaction leaves nothing and broadcasts nothing.
    let r: Result<()> = store.write(|t| {
        t.log("becker", ObjType::Email, 8, Op::Created, None)?;
        Err(StoreError::Other("boom".into()))
    });
    assert!(r.is_err());
    assert!(rx.try_recv().is_err());
    assert_eq!(store.account_state("becker").unwrap().unwrap().0, 1);
    drop(store);
    // Re-opening does not re-run migrations.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.account_state("becker").unwrap().unwrap().0, 1);
}

#[test]
fn created_then_destroyed_in_one_transaction_is_destroyed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
    store.ensure_accounts(["a"]).unwrap();
    store
        .write(|t| {
            t.log("a", ObjType::Email, 1, Op::Created, None)?;
            t.log("a", ObjType::Email, 1, Op::Updated, None)?;
            t.log("a", ObjType::Email, 2, Op::Created, None)?;
            t.log("a", ObjType::Email, 2, Op::Destroyed, None)
        })
        .unwrap();
    let ops: Vec<(i64, i64)> = store
        .read(|c| {
            let mut s = c.prepare("SELECT object_id, op FROM change_log ORDER BY object_id")?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .unwrap();
    assert_eq!(ops, vec![(1, 0), (2, 2)]);
}

/// A store of the release before the queue followed its own changes (schema 10): two tasks
/// copied the queue's state into the reply record and the phone's submission every 2 s, and
/// postbote stopped after the queue sent a reply but before the copy. After the upgrade the
/// reply counts as sent (not as still pending for its sender), and the submission has the
/// message's state, with a change logged for the phones. Opening the store again changes
/// nothing more.
#[test]
fn records_left_behind_by_the_old_pollers_catch_up_at_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postbote.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        for (_, sql) in &super::MIGRATIONS[..10] {
            c.execute_batch(sql).unwrap();
        }
        c.execute_batch(
            "PRAGMA user_version = 10;
             INSERT INTO account (id, epoch, created_at) VALUES ('becker', 'e1', 1);
             INSERT INTO outbox_message (id, account, status, origin, message_id, from_addr, raw, created_at, due_at,
                 sent_at, updated_at)
               VALUES (7, 'becker', 'sent', 'autoreply', 'r@bau-firma.test', 'becker@bau-firma.test', x'00', 100, 100, 110, 110);
             INSERT INTO autoreply_reply (account, sender, outbox_id, message_id, queued_at, state)
               VALUES ('becker', 'kunde@example.test', 7, 'r@bau-firma.test', 100, 'queued');
             INSERT INTO email_submission (account, email_id, thread_id, identity, outbox_id, envelope, send_at, last_status)
               VALUES ('becker', 1, 1, 'i', 7, '{}', 100, 'queued');",
        )
        .unwrap();
    }
    let submissions = |s: &Store| s.changes().states("becker").unwrap().unwrap().modseq(ObjType::EmailSubmission);
    let s = Store::open(&path).unwrap();
    let h = s.autoreply().history("becker", "kunde@example.test", None, 0, 200).unwrap();
    assert_eq!(h.last_sent_to_sender, Some(110), "the reply went out at 110");
    assert!(!h.pending_for_sender, "a reply sent before the upgrade still counts as pending");
    let logged = submissions(&s);
    assert!(logged > 0, "the submission's catching up is logged for the phones");
    let last: Option<String> = s
        .read(|c| Ok(c.query_row("SELECT last_status FROM email_submission WHERE outbox_id = 7", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(last.as_deref(), Some("sent"));
    // Nothing left to catch up: opening again and a daemon's start log nothing.
    drop(s);
    let s = Store::open(&path).unwrap();
    assert!(s.outbox().mark_unknown().unwrap().is_empty());
    assert_eq!(submissions(&s), logged);
}

/// A store's `user_version` is the number of migrations applied, so a migration's file number
/// must be its place in the list: a migration merged out of order would be skipped by stores
/// already past its place, and one already applied would run again.
#[test]
fn migrations_are_numbered_by_their_place_in_the_list() {
    for (i, (name, _)) in super::MIGRATIONS.iter().enumerate() {
        let number: usize = name[..4].parse().unwrap_or_else(|_| panic!("{name}: no four-digit number"));
        assert_eq!(number, i + 1, "{name} is migration {} in the list", i + 1);
    }
}

/// The ids of becker's emails that `filter` finds, in id order.
pub(crate) fn matching(s: &Store, filter: &EmailFilter) -> Vec<i64> {
    let mut got: Vec<i64> = s.emails().query("becker", filter, &[]).unwrap().into_iter().map(|(id, _)| id).collect();
    got.sort();
    got
}

/// A durable write syncs the log at its commit (`synchronous=FULL` inside it) and leaves the
/// writer as it was for every other write (`NORMAL`), also when it fails.
#[test]
fn a_durable_write_is_full_only_for_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
    let level = |t: &mut super::Tx<'_>| -> Result<i64> { Ok(t.tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?) };
    assert_eq!(s.write(level).unwrap(), 1, "NORMAL");
    assert_eq!(s.write_durable(level).unwrap(), 2, "FULL");
    assert_eq!(s.write(level).unwrap(), 1);
    let failed: Result<()> = s.write_durable(|t| {
        t.tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
        Ok(())
    });
    assert!(failed.is_err());
    assert_eq!(s.write(level).unwrap(), 1, "NORMAL again after a failed durable write");
}
