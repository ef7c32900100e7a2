//! The IMAP server's writes act on the folder as it is at the write: a message moved away
//! meanwhile is neither expunged nor stored to, UNCHANGEDSINCE sees changes no session looked
//! at yet, and a COPY or MOVE that cannot copy one message changes nothing.

use crate::store::email_set::{EmailUpdate, KeywordPatch, MailboxPatch, SetFailure};
use crate::store::imap_uids::tests::msg;
use crate::store::imap_writes::Copied;
use crate::store::{Store, test_store};

/// becker's INBOX with `n` messages (UIDs given out) and Archive.
fn setup(s: &Store, n: u32) -> (i64, i64, Vec<i64>) {
    let inbox = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    let archive = s.folders().ensure("becker", "Archive", Some("archive")).unwrap().id;
    let ids = s.messages().insert("becker", inbox, (1..=n).map(msg).collect(), None).unwrap();
    s.imap_uids().refresh("becker", inbox).unwrap();
    (inbox, archive, ids)
}

fn count(s: &Store, account: &str, folder: i64) -> usize {
    s.imap_uids().refresh(account, folder).unwrap();
    s.imap_uids().live(folder).unwrap().len()
}

fn move_to(s: &Store, id: i64, folder: i64) {
    let up = EmailUpdate { keywords: None, folder: Some(MailboxPatch::Replace(vec![folder])) };
    let (u, _) = s.emails().set("becker", None, &[(id, up)], &[]).unwrap().unwrap();
    assert_eq!(u, vec![Ok(())]);
}

#[test]
fn expunge_leaves_alone_a_deleted_message_another_device_moved_away() {
    let (_d, s) = test_store();
    let (inbox, archive, ids) = setup(&s, 2);
    s.imap_uids().set_deleted("becker", inbox, &[(1, true), (2, true)]).unwrap();
    // Another device moves UID 1 to Archive; no session looked since.
    move_to(&s, ids[0], archive);
    assert_eq!(s.imap_uids().expunge("becker", inbox, &|_| true).unwrap(), vec![2]);
    assert_eq!(count(&s, "becker", archive), 1, "the moved message lives on in Archive");
    assert_eq!(count(&s, "becker", inbox), 0);
    // And UID EXPUNGE's filter holds.
    let more = s.messages().insert("becker", inbox, vec![msg(3), msg(4)], None).unwrap();
    assert_eq!(more.len(), 2);
    s.imap_uids().refresh("becker", inbox).unwrap();
    s.imap_uids().set_deleted("becker", inbox, &[(3, true), (4, true)]).unwrap();
    assert_eq!(s.imap_uids().expunge("becker", inbox, &|u| u == 4).unwrap(), vec![4]);
}

#[test]
fn store_checks_unchangedsince_against_the_modseq_of_the_moment_and_skips_moved_messages() {
    let (_d, s) = test_store();
    let (inbox, archive, ids) = setup(&s, 3);
    let seen = s.imap_uids().live(inbox).unwrap()[0].modseq;
    // Another device flags UID 1 and moves UID 2 away; the UID rows are not refreshed.
    let flag = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$flagged".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(ids[0], flag)], &[]).unwrap();
    move_to(&s, ids[1], archive);
    let patch = KeywordPatch::Set(vec![("$seen".into(), true)]);
    let r = s.imap_uids().store("becker", inbox, &[1, 2, 3], Some(&patch), Some(true), Some(seen)).unwrap().unwrap();
    assert_eq!(r.modified, vec![1], "changed after UNCHANGEDSINCE");
    assert_eq!(r.done.iter().map(|d| d.0).collect::<Vec<_>>(), vec![3]);
    let live = s.imap_uids().live(inbox).unwrap();
    assert_eq!(live.iter().map(|r| (r.uid, r.deleted)).collect::<Vec<_>>(), vec![(1, false), (3, true)]);
    assert_eq!(r.done[0].1, live[1].modseq, "the MODSEQ the STORE gave");
    s.imap_uids().refresh("becker", archive).unwrap();
    let moved = s.imap_uids().messages(archive, &[1]).unwrap();
    assert_eq!(moved.len(), 1);
    assert!(moved[0].keywords.is_empty() && !moved[0].deleted, "the moved message is untouched");
    // Without UNCHANGEDSINCE UID 1 is stored too, and its MODSEQ before the STORE shows the
    // other device's change a session that saw `seen` was not told yet (so a .SILENT STORE
    // must not count it as told).
    let r = s.imap_uids().store("becker", inbox, &[1, 3], Some(&patch), None, None).unwrap().unwrap();
    assert_eq!(r.done.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 3]);
    assert!(r.before[0] > seen, "UID 1 had news of its own: {:?}", r.before);
    assert!(r.done.iter().zip(&r.before).all(|(d, b)| d.1 >= *b));
}

#[test]
fn a_move_to_another_mailbox_that_cannot_copy_one_message_changes_nothing() {
    let (_d, s) = test_store();
    s.ensure_accounts(["info"]).unwrap();
    let (inbox, _, ids) = setup(&s, 3);
    let dest = s.folders().ensure("info", "INBOX", Some("inbox")).unwrap().id;
    // UID 2 carries a keyword an import refuses.
    s.write(|t| {
        t.tx.execute("UPDATE message SET keywords = '[\"bad]kw\"]' WHERE id = ?1", [ids[1]])?;
        Ok(())
    })
    .unwrap();
    for moving in [true, false] {
        let r = s.imap_uids().copy("becker", inbox, &[1, 2, 3], "info", dest, moving).unwrap();
        assert!(matches!(r, Err((2, SetFailure::Invalid("keywords", _)))), "{r:?}");
        assert_eq!(count(&s, "becker", inbox), 3, "nothing destroyed");
        assert_eq!(count(&s, "info", dest), 0, "nothing copied");
    }
    s.write(|t| {
        t.tx.execute("UPDATE message SET keywords = '[]' WHERE id = ?1", [ids[1]])?;
        Ok(())
    })
    .unwrap();
    let Copied { source, dest: made, .. } =
        s.imap_uids().copy("becker", inbox, &[1, 2, 3, 9], "info", dest, true).unwrap().unwrap();
    assert_eq!(source, vec![1, 2, 3]);
    assert_eq!(made, vec![1, 2, 3]);
    assert_eq!(count(&s, "becker", inbox), 0);
    assert_eq!(count(&s, "info", dest), 3);
    // Each original's expunge on becker's server waits for its copy's APPEND on info's, as
    // after Email/copy with onSuccessDestroyOriginal: never on neither server.
    let waits: Vec<(Option<i64>, Option<String>)> = s
        .read(|c| {
            let mut q = c.prepare(
                "SELECT e.waits_for, a.kind FROM writeback_op e LEFT JOIN writeback_op a ON a.id = e.waits_for
                 WHERE e.account = 'becker' AND e.kind = 'expunge' ORDER BY e.id",
            )?;
            Ok(q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?)
        })
        .unwrap();
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert!(waits.iter().all(|(w, k)| w.is_some() && k.as_deref() == Some("append")), "{waits:?}");
}

#[test]
fn a_move_within_the_mailbox_skips_a_message_already_moved_away() {
    let (_d, s) = test_store();
    let (inbox, archive, ids) = setup(&s, 2);
    let trash = s.folders().ensure("becker", "Trash", Some("trash")).unwrap().id;
    move_to(&s, ids[0], trash);
    let r = s.imap_uids().copy("becker", inbox, &[1, 2], "becker", archive, true).unwrap().unwrap();
    assert_eq!(r.source, vec![2]);
    assert_eq!(count(&s, "becker", trash), 1, "the message moved to Trash stays there");
    assert_eq!(count(&s, "becker", archive), 1);
}
