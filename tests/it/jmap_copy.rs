//! Identity/set, Email/copy and Blob/copy against the real daemon (in-process) and the real
//! Dovecot of the local stack, driven by the `jmap-client` crate where it has the call and by
//! raw JSON for the error cases it hides.
//!
//! Each test makes its own Dovecot users, data directory, config and ports. Nothing sleeps to
//! wait for a server: every wait polls for its condition with a timeout.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::jmapd::{self, Daemon, eventually};
use crate::support::{self, server_subjects};

const USING: [&str; 3] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"];

/// A daemon for these mailboxes: (id, kind, Dovecot user, password).
async fn daemon(mailboxes: &[(&str, &str, &str, &str)]) -> Daemon {
    let mut b = jmapd::Builder::new().using(&USING);
    for (id, kind, user, pw) in mailboxes {
        b = b.mailbox(jmapd::Mailbox::new(id, user, pw).kind(kind));
    }
    b.start().await
}

/// A raw HTTP/1.1 request with the device's token; returns (status, body). The answer is
/// never chunked.
async fn http(d: &Daemon, method: &str, path: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (status, headers, body) = d.authed(method, path, token, Some("application/json"), body).await;
    assert!(
        !headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked")),
        "{headers:?}"
    );
    (status, body)
}

/// One API request with `calls`; the method responses.
async fn api(d: &Daemon, token: &str, calls: Value) -> Vec<Value> {
    let body = json!({"using": USING, "methodCalls": calls}).to_string();
    let (status, b) = http(d, "POST", "/jmap/api/", token, body.as_bytes()).await;
    let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
    assert_eq!(status, 200, "{v}");
    v["methodResponses"].as_array().cloned().unwrap_or_default()
}

async fn download(d: &Daemon, token: &str, account: &str, blob: &str) -> (u16, Vec<u8>) {
    http(d, "GET", &format!("/jmap/download/{account}/{blob}/x.eml"), token, b"").await
}

fn mail(n: u32, subject: &str) -> Vec<u8> {
    format!(
        "From: Kunde {n} <kunde{n}@kunde.test>\r\nTo: info@bau-firma.test\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <copy{n}.{}.{}@kunde.test>\r\n\r\nNachricht {n}\r\n",
        std::process::id(),
        subject.len()
    )
    .into_bytes()
}

/// Identity/set changes the five settable properties of a configured identity; Identity/get
/// returns them and Identity/changes reports the update with real states. A configured
/// identity cannot be destroyed, none can be created, and a stale ifInState is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identity_set_is_stored_returned_and_reported_as_a_change() {
    let (user, pw) = support::unique_user("jmapident");
    let d = daemon(&[("becker", "employee", &user, &pw)]).await;
    let token = d.device("becker", &[]);
    let client = d.client(&token).await;

    let r = api(&d, &token, json!([["Identity/get", {"accountId": "becker"}, "g"]])).await;
    let s0 = r[0][1]["state"].as_str().unwrap().to_string();
    assert_eq!(r[0][1]["list"][0]["id"], "I0", "{}", r[0]);
    assert_eq!(r[0][1]["list"][0]["name"], "Mailbox becker");
    assert_eq!(r[0][1]["list"][0]["mayDelete"], false);

    // The update, by the jmap-client crate.
    let mut req = client.build();
    req.set_identity()
        .update("I0")
        .name("Hans Becker (Bau)")
        .reply_to(Some(["buero@bau-firma.test"].into_iter()))
        .bcc(Some(["archiv@bau-firma.test"].into_iter()))
        .text_signature("Mit freundlichen Grüßen\nHans Becker")
        .html_signature("<p>Mit freundlichen Grüßen<br>Hans Becker</p>");
    let mut set = req.send_set_identity().await.unwrap();
    set.updated("I0").expect("I0 updated");
    assert_eq!(set.old_state(), Some(s0.as_str()));
    let s1 = set.new_state().to_string();
    assert_ne!(s0, s1, "the update moved the Identity state");

    let got = client.identity_get("I0", None).await.unwrap().expect("I0");
    assert_eq!(got.name(), Some("Hans Becker (Bau)"));
    assert_eq!(got.email(), Some("becker@bau-firma.test"), "the address stays the config's");
    assert_eq!(got.reply_to().unwrap()[0].email(), "buero@bau-firma.test");
    assert_eq!(got.bcc().unwrap()[0].email(), "archiv@bau-firma.test");
    assert_eq!(got.text_signature(), Some("Mit freundlichen Grüßen\nHans Becker"));
    assert_eq!(got.html_signature(), Some("<p>Mit freundlichen Grüßen<br>Hans Becker</p>"));

    let changes = client.identity_changes(&s0, 100).await.unwrap();
    assert_eq!(changes.updated(), ["I0".to_string()]);
    assert!(changes.created().is_empty() && changes.destroyed().is_empty());
    assert_eq!(changes.new_state(), s1);
    let none = client.identity_changes(&s1, 100).await.unwrap();
    assert!(none.updated().is_empty() && none.created().is_empty() && none.destroyed().is_empty());

    // Destroy and create are refused; a stale ifInState refuses the whole call.
    assert!(client.identity_destroy("I0").await.is_err(), "a configured identity cannot be destroyed");
    let r = d
        .api(
            &token,
            json!([
                ["Identity/set", {"accountId": "becker", "destroy": ["I0", "I9"],
                                  "create": {"n": {"email": "becker@bau-firma.test", "name": "Zweit"}}}, "s"],
                ["Identity/set", {"accountId": "becker", "ifInState": s0, "update": {"I0": {"name": "Alt"}}}, "t"],
                ["Identity/set", {"accountId": "becker", "update": {"I0": {"email": "chef@bau-firma.test"}}}, "u"],
                ["Identity/get", {"accountId": "becker"}, "g"],
            ]),
        )
        .await;
    assert_eq!(r[0][1]["notDestroyed"]["I0"]["type"], "forbidden", "{}", r[0]);
    assert_eq!(r[0][1]["notDestroyed"]["I9"]["type"], "notFound", "{}", r[0]);
    assert_eq!(r[0][1]["notCreated"]["n"]["type"], "forbidden", "{}", r[0]);
    assert_eq!(r[0][1]["newState"], s1.as_str(), "nothing changed: {}", r[0]);
    assert_eq!((r[1][0].as_str(), r[1][1]["type"].as_str()), (Some("error"), Some("stateMismatch")), "{}", r[1]);
    assert_eq!(r[2][1]["notUpdated"]["I0"]["properties"], json!(["email"]), "{}", r[2]);
    let list = r[3][1]["list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "Hans Becker (Bau)");
    d.stop().await;
}

/// Email/copy from a granted shared mailbox into the device's own: the copy reaches the
/// target folder on Dovecot through the write-back queue; with onSuccessDestroyOriginal the
/// original leaves the shared mailbox on Dovecot, reported as a second "Email/set" response.
/// A copy within one account, from an account not granted, into more than one mailbox, or
/// of an email that does not exist is refused. Blob/copy makes a blob of the shared mailbox
/// readable in the own account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_and_blob_copy_between_granted_accounts_reach_dovecot() {
    let (ub, pb) = support::unique_user("jmapcopy-b");
    let (ui, pi) = support::unique_user("jmapcopy-i");
    let (um, pm) = support::unique_user("jmapcopy-m");
    support::deliver_to_folder(&ui, "INBOX", &mail(1, "Anfrage Dach"));
    support::deliver_to_folder(&ui, "INBOX", &mail(2, "Anfrage Keller"));
    support::deliver_to_folder(&um, "INBOX", &mail(3, "Privat"));
    let d =
        daemon(&[("becker", "employee", &ub, &pb), ("info", "shared", &ui, &pi), ("mueller", "employee", &um, &pm)])
            .await;
    let token = d.device("becker", &["info"]);

    // Wait for both shared emails and the own mailboxes to be mirrored.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (info, boxes) = loop {
        let r = d
            .api(
                &token,
                json!([
                    ["Email/query", {"accountId": "info"}, "q"],
                    ["Email/get", {"accountId": "info", "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                                   "properties": ["id", "subject", "blobId", "receivedAt"]}, "g"],
                    ["Mailbox/get", {"accountId": "becker"}, "m"],
                ]),
            )
            .await;
        let info = r[1][1]["list"].as_array().cloned().unwrap_or_default();
        let boxes = r[2][1]["list"].as_array().cloned().unwrap_or_default();
        if info.len() == 2 && boxes.iter().any(|m| m["role"] == "inbox") && boxes.iter().any(|m| m["role"] == "drafts")
        {
            break (info, boxes);
        }
        assert!(Instant::now() < deadline, "info's two emails and becker's mailboxes not mirrored after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let by_subject = |s: &str| info.iter().find(|e| e["subject"] == s).unwrap().clone();
    let (dach, keller) = (by_subject("Anfrage Dach"), by_subject("Anfrage Keller"));
    let role = |r: &str| boxes.iter().find(|m| m["role"] == r).unwrap()["id"].as_str().unwrap().to_string();
    let (inbox, drafts) = (role("inbox"), role("drafts"));

    // Refusals first: nothing of them may reach the server.
    let r = d
        .api(
            &token,
            json!([
                ["Email/copy", {"fromAccountId": "becker", "accountId": "becker",
                                "create": {"a": {"id": dach["id"], "mailboxIds": {&inbox: true}}}}, "same"],
                ["Email/copy", {"fromAccountId": "mueller", "accountId": "becker",
                                "create": {"a": {"id": "M1", "mailboxIds": {&inbox: true}}}}, "foreign"],
                ["Email/copy", {"fromAccountId": "info", "accountId": "becker", "ifFromInState": "0-0",
                                "create": {"a": {"id": dach["id"], "mailboxIds": {&inbox: true}}}}, "stale"],
                ["Email/copy", {"fromAccountId": "info", "accountId": "becker", "create": {
                    "two": {"id": dach["id"], "mailboxIds": {&inbox: true, &drafts: true}},
                    "gone": {"id": "M999999", "mailboxIds": {&inbox: true}}}}, "bad"],
                ["Blob/copy", {"fromAccountId": "becker", "accountId": "becker", "blobIds": [dach["blobId"]]}, "bsame"],
                ["Blob/copy", {"fromAccountId": "mueller", "accountId": "becker", "blobIds": ["B1"]}, "bforeign"],
            ]),
        )
        .await;
    let kind = |x: &Value| (x[0].as_str().unwrap().to_string(), x[1]["type"].as_str().unwrap_or("").to_string());
    assert_eq!(kind(&r[0]), ("error".into(), "invalidArguments".into()), "{}", r[0]);
    assert_eq!(kind(&r[1]), ("error".into(), "fromAccountNotFound".into()), "{}", r[1]);
    assert_eq!(kind(&r[2]), ("error".into(), "stateMismatch".into()), "{}", r[2]);
    assert_eq!(r[3][1]["notCreated"]["two"]["type"], "tooManyMailboxes", "{}", r[3]);
    assert_eq!(r[3][1]["notCreated"]["gone"]["type"], "notFound", "{}", r[3]);
    assert_eq!(r[3][1]["created"], json!({}), "{}", r[3]);
    assert_eq!(kind(&r[4]), ("error".into(), "invalidArguments".into()), "{}", r[4]);
    assert_eq!(kind(&r[5]), ("error".into(), "fromAccountNotFound".into()), "{}", r[5]);

    let client = d.client(&token).await;
    // Blob/copy (before any email copy shares the blob): the shared email's raw message becomes readable in the own account.
    let blob = dach["blobId"].as_str().unwrap();
    assert_eq!(download(&d, &token, "becker", blob).await.0, 404, "not readable in the own account before");
    let copied = client.blob_copy("info", blob).await.unwrap();
    let r = d
        .api(
            &token,
            json!([["Blob/copy", {"fromAccountId": "info", "accountId": "becker", "blobIds": ["B999999", blob]}, "b"]]),
        )
        .await;
    assert_eq!(r[0][1]["notCopied"]["B999999"]["type"], "notFound", "{}", r[0]);
    assert_eq!(r[0][1]["copied"][blob], copied.as_str(), "{}", r[0]);
    let (status, own) = download(&d, &token, "becker", &copied).await;
    let (_, original) = download(&d, &token, "info", blob).await;
    assert_eq!(status, 200);
    assert_eq!(own, original);
    assert!(String::from_utf8_lossy(&own).contains("Subject: Anfrage Dach"));

    // A copy by the jmap-client crate, with a keyword of its own.
    let copy = client
        .email_copy("info", dach["id"].as_str().unwrap(), [inbox.as_str()], Some(["$flagged"]), None)
        .await
        .unwrap();
    let copy_id = copy.id().unwrap().to_string();
    let r = d
        .api(
            &token,
            json!([["Email/get", {"accountId": "becker", "ids": [&copy_id],
                                  "properties": ["subject", "mailboxIds", "keywords", "receivedAt"]}, "g"]]),
        )
        .await;
    let got = &r[0][1]["list"][0];
    assert_eq!(got["subject"], "Anfrage Dach", "{}", r[0]);
    assert_eq!(got["mailboxIds"], json!({&inbox: true}));
    assert_eq!(got["keywords"], json!({"$flagged": true}));
    assert_eq!(got["receivedAt"], dach["receivedAt"], "the original's receivedAt by default");

    // A copy that destroys its original, guarded by the from-account's state; the same
    // original copied twice in one call is destroyed once.
    let info_state =
        api(&d, &token, json!([["Email/get", {"accountId": "info", "ids": []}, "s"]])).await[0][1]["state"]
            .as_str()
            .unwrap()
            .to_string();
    let r = d
        .api(
            &token,
            json!([["Email/copy", {"fromAccountId": "info", "accountId": "becker",
                "onSuccessDestroyOriginal": true, "destroyFromIfInState": info_state,
                "create": {"k": {"id": keller["id"], "mailboxIds": {&inbox: true}},
                           "k2": {"id": keller["id"], "mailboxIds": {&inbox: true}}}}, "c"]]),
        )
        .await;
    assert_eq!(r.len(), 2, "the copy and the implicit Email/set: {r:?}");
    assert_eq!(r[0][0], "Email/copy");
    assert_eq!(r[0][1]["fromAccountId"], "info");
    assert!(r[0][1]["created"]["k"]["id"].is_string(), "{}", r[0]);
    assert!(r[0][1]["created"]["k2"]["id"].is_string(), "{}", r[0]);
    assert_eq!((r[1][0].as_str(), r[1][2].as_str()), (Some("Email/set"), Some("c")), "{}", r[1]);
    assert_eq!(r[1][1]["accountId"], "info");
    assert_eq!(r[1][1]["destroyed"], json!([keller["id"]]), "{}", r[1]);
    assert!(r[1][1]["notDestroyed"].as_object().is_none_or(|m| m.is_empty()), "{}", r[1]);

    // Dovecot: both copies in becker's INBOX, the destroyed original gone from info's.
    eventually(Duration::from_secs(30), "the copies and the destroy on Dovecot", || {
        let (ub, ui) = (ub.clone(), ui.clone());
        async move {
            let mut own = server_subjects(&ub, "INBOX");
            own.sort();
            own == ["Anfrage Dach", "Anfrage Keller", "Anfrage Keller"]
                && server_subjects(&ui, "INBOX") == ["Anfrage Dach"]
        }
    })
    .await;
    assert_eq!(server_subjects(&um, "INBOX"), ["Privat"], "the mailbox not granted is untouched");

    d.stop().await;
}
