//! The IMAP server's UIDs: strictly increasing per folder, never reused after an expunge or a
//! move, a moved message gets a new UID, MODSEQ follows the change log, `\Deleted` is shared.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use crate::store::email_query::EmailFilter;
use crate::store::email_set::{EmailUpdate, KeywordPatch, MailboxPatch};
use crate::store::messages::NewMessage;
use crate::store::{Store, test_store};

/// Message `n` of a test folder, as the mirror stores it with server UID `n`.
pub(in crate::store) fn msg(n: u32) -> NewMessage {
    NewMessage {
        uid: Some(n),
        modseq: None,
        flags: vec![],
        internal_date: 1_790_000_000,
        raw: format!("From: k@kunde.test\r\nMessage-ID: <{n}@x>\r\nSubject: m{n}\r\n\r\nbody {n}\r\n").into_bytes(),
    }
}

fn folders(s: &Store) -> (i64, i64) {
    let a = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
    let b = s.folders().ensure("becker", "Archive", Some("archive")).unwrap().id;
    (a, b)
}

#[test]
fn uids_in_message_order_modseq_from_the_log_and_deleted_is_shared() {
    let (_d, s) = test_store();
    let (inbox, _) = folders(&s);
    let ids = s.messages().insert("becker", inbox, vec![msg(7), msg(3)], None).unwrap();
    let f = s.imap_uids().refresh("becker", inbox).unwrap();
    assert_eq!(f.uidnext, 3);
    let live = s.imap_uids().live(inbox).unwrap();
    assert_eq!(live.iter().map(|r| (r.uid, r.message)).collect::<Vec<_>>(), vec![(1, ids[0]), (2, ids[1])]);
    // A flag change by a phone: its modseq reaches that row only.
    let before = f.highest_modseq;
    let up = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$seen".into(), true)])), folder: None };
    s.emails().set("becker", None, &[(ids[1], up)], &[]).unwrap();
    let g = s.imap_uids().refresh("becker", inbox).unwrap();
    assert!(g.highest_modseq > before);
    let live = s.imap_uids().live(inbox).unwrap();
    assert_eq!(live[1].modseq, g.highest_modseq);
    assert!(live[0].modseq < g.highest_modseq);
    assert_eq!(g.uidvalidity, f.uidvalidity, "UIDVALIDITY stays");
    // \Deleted: a new modseq, seen by every reader.
    assert_eq!(s.imap_uids().set_deleted("becker", inbox, &[(1, true), (9, true)]).unwrap(), vec![1]);
    let live = s.imap_uids().live(inbox).unwrap();
    assert!(live[0].deleted && live[0].modseq > g.highest_modseq);
    // Destroyed: VANISHED since the old state names it.
    s.emails().set("becker", None, &[], &[ids[0]]).unwrap();
    s.imap_uids().refresh("becker", inbox).unwrap();
    assert_eq!(s.imap_uids().vanished_since(inbox, g.highest_modseq).unwrap(), vec![1]);
    assert_eq!(s.imap_uids().live(inbox).unwrap().len(), 1);
}

#[derive(Debug, Clone)]
enum Step {
    Arrive,
    Destroy(usize),
    Move(usize),
    Refresh(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Arrive),
        1 => any::<usize>().prop_map(Step::Destroy),
        1 => any::<usize>().prop_map(Step::Move),
        2 => any::<bool>().prop_map(Step::Refresh),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Whatever arrives, leaves or moves between looks: per folder the UIDs given out strictly
    /// increase, none is ever given twice, and after a look the live rows are exactly the
    /// folder's messages, each once.
    #[test]
    fn uids_strictly_increase_and_are_never_reused(steps in proptest::collection::vec(step(), 1..40)) {
        let (_d, s) = test_store();
        let (inbox, archive) = folders(&s);
        let mut n = 0u32;
        let mut given: BTreeMap<i64, BTreeSet<u32>> = BTreeMap::new();
        let mut last: BTreeMap<i64, u32> = BTreeMap::new();
        for st in steps {
            let all: Vec<i64> = s.emails().query("becker", &EmailFilter::And(vec![]), &[]).unwrap().into_iter().map(|r| r.0).collect();
            match st {
                Step::Arrive => {
                    n += 1;
                    s.messages().insert("becker", inbox, vec![msg(n)], None).unwrap();
                }
                Step::Destroy(i) if !all.is_empty() => {
                    s.emails().set("becker", None, &[], &[all[i % all.len()]]).unwrap();
                }
                Step::Move(i) if !all.is_empty() => {
                    let id = all[i % all.len()];
                    let now = s.emails().get("becker", &[id]).unwrap()[0].folder_id;
                    let to = if now == inbox { archive } else { inbox };
                    let up = EmailUpdate { keywords: None, folder: Some(MailboxPatch::Replace(vec![to])) };
                    s.emails().set("becker", None, &[(id, up)], &[]).unwrap();
                }
                Step::Refresh(which) => {
                    let f = if which { inbox } else { archive };
                    s.imap_uids().refresh("becker", f).unwrap();
                    let live = s.imap_uids().live(f).unwrap();
                    let mut top = *last.get(&f).unwrap_or(&0);
                    let seen = given.entry(f).or_default();
                    for r in &live {
                        if !seen.contains(&r.uid) {
                            prop_assert!(r.uid > top, "a new UID {} is not above {}", r.uid, top);
                            top = r.uid;
                            seen.insert(r.uid);
                        }
                    }
                    last.insert(f, top);
                    let mut in_folder: Vec<i64> = s.emails().query("becker", &EmailFilter::InMailbox(f), &[]).unwrap()
                        .into_iter().map(|r| r.0).collect();
                    in_folder.sort();
                    let mut rows: Vec<i64> = live.iter().map(|r| r.message).collect();
                    rows.sort();
                    prop_assert_eq!(rows, in_folder);
                }
                _ => {}
            }
        }
    }
}
