//! One test per server quirk in [`super::ServerProfile`], each against a scripted server
//! (`imap::script`) that answers the way the odd server does.

use super::*;
use crate::imap::script::{self, step};
use crate::imap::{Numbers, append, folder};

fn profile(caps: &[&str]) -> ServerProfile {
    ServerProfile::from_capabilities(caps.iter().copied())
}

#[tokio::test]
async fn qresync_offered_but_refused_falls_back_to_condstore() {
    let (mut s, server) = script::serve(vec![
        step("CAPABILITY", &["* CAPABILITY IMAP4rev1 IDLE CONDSTORE QRESYNC ENABLE", "{tag} OK done"]),
        step("ENABLE QRESYNC", &["{tag} NO [CANNOT] QRESYNC is not enabled for this account"]),
        step("ENABLE CONDSTORE", &["* ENABLED CONDSTORE", "{tag} OK enabled"]),
    ])
    .await;
    let p = ServerProfile::learn(&mut s).await.expect("a refused ENABLE is no failure");
    assert!(p.condstore && !p.qresync && p.idle, "{p:?}");
    s.logout().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn condstore_offered_but_enable_refused_keeps_condstore() {
    let (mut s, server) = script::serve(vec![
        step("CAPABILITY", &["* CAPABILITY IMAP4rev1 CONDSTORE", "{tag} OK done"]),
        step("ENABLE CONDSTORE", &["{tag} BAD Unknown command"]),
        // The first EXAMINE with (CONDSTORE) turns it on (RFC 7162 3.1).
        step(
            "EXAMINE \"INBOX\" (CONDSTORE)",
            &[
                "* 3 EXISTS",
                "* OK [UIDVALIDITY 7] ok",
                "* OK [UIDNEXT 4] ok",
                "* OK [HIGHESTMODSEQ 90] ok",
                "{tag} OK [READ-ONLY] done",
            ],
        ),
    ])
    .await;
    let p = ServerProfile::learn(&mut s).await.unwrap();
    assert!(p.condstore && !p.qresync, "{p:?}");
    let n = folder::examine(&mut s, p.condstore, "INBOX", "INBOX").await.unwrap();
    assert_eq!(n, Numbers { uidvalidity: 7, uidnext: Some(4), highestmodseq: Some(90), exists: 3 });
    s.logout().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn status_of_the_selected_folder_is_not_trusted() {
    // The server answers STATUS of the selected folder from the session's view (UIDNEXT 4),
    // while a new EXAMINE shows the message that arrived since (UIDNEXT 5).
    let (mut s, server) = script::serve(vec![
        step("EXAMINE \"INBOX\"", &["* 3 EXISTS", "* OK [UIDVALIDITY 7] ok", "* OK [UIDNEXT 4] ok", "{tag} OK done"]),
        step("EXAMINE \"INBOX\"", &["* 4 EXISTS", "* OK [UIDVALIDITY 7] ok", "* OK [UIDNEXT 5] ok", "{tag} OK done"]),
    ])
    .await;
    let p = profile(&[]);
    assert!(p.stale_status_when_selected, "every server is asked again by EXAMINE");
    folder::examine(&mut s, false, "INBOX", "INBOX").await.unwrap();
    let n = folder::numbers(&mut s, &p, false, "INBOX", "INBOX", true).await.unwrap();
    assert_eq!(n.uidnext, Some(5));
    s.logout().await.unwrap();
    let seen = server.await.unwrap();
    assert!(!seen.iter().any(|c| c.contains("STATUS")), "{seen:?}");
}

#[tokio::test]
async fn uid_search_from_a_uid_above_the_highest_drops_the_highest() {
    let (mut s, server) = script::serve(vec![step("UID SEARCH UID 9:*", &["* SEARCH 8", "{tag} OK done"])]).await;
    let uids = folder::uid_search(&mut s, "UID 9:*", "INBOX", 9).await.unwrap();
    assert!(uids.is_empty(), "UID 8 is not new: {uids:?}");
    s.logout().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn create_of_an_existing_folder_is_refused_with_a_code_or_only_in_words() {
    let (mut s, server) = script::serve(vec![
        step("CREATE \"Kunden\"", &["{tag} NO [ALREADYEXISTS] Mailbox already exists"]),
        step("CREATE \"Kunden\"", &["{tag} NO Mailbox exists"]),
        step("CREATE \"Kunden\"", &["{tag} NO [OVERQUOTA] Quota exceeded"]),
    ])
    .await;
    let p = profile(&[]);
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        let e = wire::simple(&mut s, "CREATE \"Kunden\"", "CREATE Kunden").await.unwrap_err();
        verdicts.push(p.already_exists(e.refusal().expect("a refusal, not a broken connection")));
    }
    assert_eq!(verdicts, vec![true, true, false]);
    s.logout().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn delete_of_a_missing_folder_is_refused_with_a_code_or_only_in_words() {
    let (mut s, server) = script::serve(vec![
        step("DELETE \"Alt\"", &["{tag} NO [NONEXISTENT] Unknown mailbox"]),
        step("DELETE \"Alt\"", &["{tag} NO Mailbox doesn't exist: Alt"]),
        step("DELETE \"Alt\"", &["{tag} NO [INUSE] Mailbox is in use"]),
    ])
    .await;
    let p = profile(&[]);
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        let e = wire::simple(&mut s, "DELETE \"Alt\"", "DELETE Alt").await.unwrap_err();
        verdicts.push(p.nonexistent(e.refusal().unwrap()));
    }
    assert_eq!(verdicts, vec![true, true, false]);
    s.logout().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_refused_multiappend_goes_again_as_single_appends() {
    // The server offers MULTIAPPEND but refuses the batch; one by one it takes two of three
    // and refuses the second message itself.
    let (mut s, server) = script::serve(vec![
        step("APPEND \"Sent\" (\\Seen) {3+}", &["{tag} NO [LIMIT] Too much in one command"]),
        step("APPEND \"Sent\" (\\Seen) {3+}", &["{tag} OK [APPENDUID 1 10] done"]),
        step("APPEND \"Sent\" (\\Seen) {4+}", &["{tag} NO [TOOBIG] Message too large"]),
        step("APPEND \"Sent\" (\\Seen) {5+}", &["{tag} OK [APPENDUID 1 11] done"]),
    ])
    .await;
    let p = profile(&["MULTIAPPEND", "LITERAL+"]);
    let raws: [&[u8]; 3] = [b"one", b"two!", b"three"];
    let out = append::append_batch(&mut s, &p, "Sent", "\\Seen", &raws).await;
    assert!(out.fell_back);
    assert_eq!(out.confirmed, vec![0, 2]);
    assert_eq!(out.refused.len(), 1);
    assert_eq!(out.refused[0].0, 1);
    assert!(out.refused[0].1.has_code("TOOBIG"), "{:?}", out.refused);
    s.logout().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen.iter().filter(|c| c.contains("APPEND")).count(), 4, "{seen:?}");
}

#[tokio::test]
async fn a_login_refused_with_bad_is_a_refused_login() {
    let (client, server) =
        script::greet(vec![step("LOGIN", &["{tag} BAD [AUTHENTICATIONFAILED] Invalid credentials"])]).await;
    let e = super::super::conn::log_in(client, "scripted", "user", "password").await.map(|_| ()).unwrap_err();
    assert!(e.is_auth(), "{e}");
    assert!(!e.to_string().contains("password"), "{e}");
    drop(server);
}
