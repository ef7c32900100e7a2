//! The Sent copy against the real Dovecot when the Sent folder's name is not ASCII
//! ("Éléments envoyés", as a French Outlook names it): every command that names it (EXAMINE,
//! SEARCH's folder, APPEND) must send it in modified UTF-7, or the server refuses it.
//!
//! The test has its own Dovecot users and store; Postfix captures what is sent. Waiting is
//! polling for a condition with a deadline, never a bare sleep.

use std::time::{Duration, Instant};

use postbote::outbox::{self, Origin, Outgoing};
use tokio_util::sync::CancellationToken;

use crate::outbox::{Harness, Opts};
use crate::support::{self, doveadm};

const SENT: &str = "Éléments envoyés";

/// How many messages with this Message-ID the server holds in `folder`.
fn on_server(user: &str, folder: &str, message_id: &str) -> usize {
    doveadm(&["-f", "flow", "search", "-u", user, "mailbox", folder, "header", "Message-ID", message_id])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[tokio::test]
async fn a_sent_folder_with_a_non_ascii_name_gets_its_copies_and_is_searched() {
    let (_dir, u, _, path) = Harness::prepare(&Opts { sent_folder: Some(SENT), ..Opts::default() });
    let imap_user = format!("{u}.bau-firma@handwerk.test");
    doveadm(&["mailbox", "create", "-u", &imap_user, SENT]);
    let app = Harness::app_for(&path);

    let mk = |local: &str| {
        let raw =
            format!("From: <{u}@bau-firma.test>\r\nTo: <{local}-{u}@kunde.test>\r\nSubject: {local}\r\n\r\nx\r\n");
        let outgoing = Outgoing {
            mailbox: u.clone(),
            raw: raw.into_bytes(),
            recipients: None,
            origin: Origin::Office,
            discard_after: None,
        };
        outbox::enqueue(&app, outgoing).unwrap()
    };
    // One message a crash left unknown whose copy is in the Sent folder: settled by a search
    // there (EXAMINE of the non-ASCII name). One sent normally: its copy is APPENDed there.
    let (found, fresh) = (mk("found"), mk("fresh"));
    assert!(app.store.outbox().begin(found.id).unwrap());
    let copy =
        format!("From: <{u}@bau-firma.test>\r\nMessage-ID: <{}>\r\nSubject: found\r\n\r\nx\r\n", found.message_id);
    support::deliver_to_folder(&imap_user, SENT, copy.as_bytes());

    let token = CancellationToken::new();
    let task = tokio::spawn(outbox::run(app.clone(), token.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = outbox::state(&app, found.id).unwrap();
        let (m, _) = app.store.outbox().show(fresh.id).unwrap().unwrap();
        if state == Some(outbox::State::Sent) && m.sent_copy_done {
            break;
        }
        assert!(Instant::now() < deadline, "found: {state:?}; fresh: copy done {}", m.sent_copy_done);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    token.cancel();
    tokio::time::timeout(Duration::from_secs(30), task).await.expect("the outbox stops").unwrap().unwrap();

    let (f, _) = app.store.outbox().show(found.id).unwrap().unwrap();
    assert!(f.resolved.unwrap().contains(SENT), "settled from the server's folder \"{SENT}\"");
    assert_eq!(on_server(&imap_user, SENT, &fresh.message_id), 1, "one copy, in the folder with the real name");
    assert_eq!(on_server(&imap_user, SENT, &found.message_id), 1, "no second copy of the settled one");
}
