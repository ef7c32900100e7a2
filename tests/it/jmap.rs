//! The JMAP server against the real daemon and the real Dovecot of the local stack, driven
//! by a JMAP client we did not write (the `jmap-client` crate) and, for the error cases a
//! client library hides, by raw HTTP.
//!
//! Each test makes its own Dovecot users, data directory, config and ports, and runs
//! `daemon::run` in-process, so the tests run in parallel. Nothing sleeps to wait for a
//! server: every wait polls for its condition with a timeout.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use jmap_client::client::{Client, Credentials};
use jmap_client::core::query::Filter;
use jmap_client::email;
use jmap_client::mailbox::Role;
use postbote::app::App;
use postbote::config::Config;
use postbote::store::Store;

use crate::support::jmapd::{self, Daemon, eventually};
use crate::support::{self, doveadm, free_port, server_subjects, stack_dir};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

// ------------------------------------------------------------------------------ the stack

fn deliver(user: &str, folder: &str, raw: &[u8]) {
    support::deliver_to_folder(user, folder, raw);
}

/// (uid, flags) of every message in a folder on the server.
fn server_flags(user: &str, folder: &str) -> Vec<(u32, String)> {
    let out = doveadm(&["-f", "tab", "fetch", "-u", user, "uid flags", "mailbox", folder, "all"]);
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let (uid, flags) = l.split_once('\t')?;
            Some((uid.trim().parse().ok()?, flags.to_string()))
        })
        .collect()
}

fn mail(n: u32, subject: &str) -> Vec<u8> {
    format!(
        "From: Kunde {n} <kunde{n}@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <m{n}.{}.{}@kunde.test>\r\nUser-Agent: Testmailer 1.0\r\n\r\nNachricht {n}: Angebot Badsanierung\r\n",
        std::process::id(),
        subject.len()
    )
    .into_bytes()
}

// --------------------------------------------------------------------------- the daemon

/// A mailbox of the config: (id, kind, Dovecot user, password).
struct Mb<'a>(&'a str, &'a str, &'a str, &'a str);

async fn daemon(mailboxes: &[Mb<'_>]) -> Daemon {
    daemon_with(mailboxes, None).await
}

/// `direct`: (company address, its SMTP password) for the first mailbox, which then sends
/// through the company's server only while an office session is open.
async fn daemon_with(mailboxes: &[Mb<'_>], direct: Option<(&str, &str)>) -> Daemon {
    daemon_full(mailboxes, direct, false).await
}

/// A daemon for "becker" that sends on the direct path with an SMTP login of its own, and a
/// phone's client for it.
struct SendingDirect {
    d: Daemon,
    client: Client,
    /// The hosted IMAP user, the SMTP login's address and the phone's token.
    user: String,
    address: String,
    token: String,
    /// Makes this test's addresses and subjects its own.
    nanos: u32,
}

/// [`SendingDirect`], with logins named after `tag`.
async fn daemon_sending_direct(tag: &str) -> SendingDirect {
    let (user, pw) = support::unique_user(tag);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let address = format!("{tag}{}x{nanos}@bau-firma.test", std::process::id());
    let smtp_pw = format!("smtp{nanos}");
    support::stack(&["add-user", &address, &smtp_pw], None);
    let d = daemon_with(&[Mb("becker", "employee", &user, &pw)], Some((&address, &smtp_pw))).await;
    let token = d.device("becker", &[]);
    let client = d.client(&token).await;
    SendingDirect { d, client, user, address, token, nanos }
}

/// `tls`: serve JMAP over TLS with the stack's certificate (CN localhost).
async fn daemon_full(mailboxes: &[Mb<'_>], direct: Option<(&str, &str)>, tls: bool) -> Daemon {
    let mut b = jmapd::Builder::new().using(&USING).section("[outbox]\nretry_schedule = [\"1s\"]\n");
    if tls {
        b = b.tls();
    }
    if direct.is_some() {
        b = b.section(&format!(
            "[direct]\nhost = \"localhost\"\nport = 10587\ntls = \"starttls\"\nca_file = \"{}\"\nsend_while = \"session\"\n",
            stack_dir().join("certs/cert.pem").display()
        ));
    }
    for (i, Mb(id, kind, user, pw)) in mailboxes.iter().enumerate() {
        let mb = jmapd::Mailbox::new(id, user, pw).kind(kind);
        b = b.mailbox(match direct.filter(|_| i == 0) {
            Some((address, smtp_pw)) => mb.address(address).transport("direct").smtp(address, smtp_pw),
            None => mb.transport("relay"),
        });
    }
    b.start().await
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

const USING: [&str; 2] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"];

// ------------------------------------------------------------------------------- tests

/// A phone's whole day against Dovecot: first sync in one round trip, new mail by /changes
/// and by push, and its own changes ($seen, a move, a destroy) reaching the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn phone_flow_against_dovecot() {
    let (user, pw) = support::unique_user("jmapflow");
    for n in 1..=3 {
        deliver(&user, "INBOX", &mail(n, &format!("Anfrage {n}")));
    }
    let d = daemon(&[Mb("becker", "employee", &user, &pw)]).await;
    let token = d.device("becker", &[]);
    let client = d.client(&token).await;
    assert_eq!(client.session().username(), "becker");

    // The mirror brings the three messages in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let inbox_id = loop {
        let mut r = client.build();
        r.get_mailbox();
        let list = r.send_get_mailbox().await.unwrap().take_list();
        if let Some(m) = list.iter().find(|m| m.role() == Role::Inbox && m.total_emails() == 3) {
            break m.id().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "timed out waiting for INBOX with 3 emails via Mailbox/get");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut r = client.build();
    r.get_mailbox();
    let mailboxes = r.send_get_mailbox().await.unwrap().take_list();
    let trash_id =
        mailboxes.iter().find(|m| m.role() == Role::Trash).expect("a Trash mailbox").id().unwrap().to_string();

    // First screen: query and get in one request through a result reference.
    let mut r = client.build();
    let q = r
        .query_email()
        .filter(Filter::from(email::query::Filter::in_mailbox(&inbox_id)))
        .sort([email::query::Comparator::received_at()])
        .calculate_total(true)
        .result_reference();
    r.get_email().ids_ref(q).properties([
        email::Property::Id,
        email::Property::ThreadId,
        email::Property::Subject,
        email::Property::Keywords,
        email::Property::Preview,
        email::Property::MailboxIds,
    ]);
    let mut responses = r.send().await.unwrap().unwrap_method_responses();
    assert_eq!(responses.len(), 2);
    let got = responses.pop().unwrap().unwrap_get_email().unwrap();
    let query = responses.pop().unwrap().unwrap_query_email().unwrap();
    assert_eq!(query.total(), Some(3));
    let state = got.state().to_string();
    let emails = got.list().to_vec();
    assert_eq!(emails.len(), 3);
    assert!(emails.iter().all(|e| e.preview().unwrap().contains("Angebot Badsanierung")));

    // Push: an EventSource stream, then new mail delivered to Dovecot.
    let mut push = client.event_source(None::<Vec<jmap_client::DataType>>, false, None, None).await.unwrap();
    deliver(&user, "INBOX", &mail(4, "Neue Anfrage"));
    let delivered = Instant::now();
    let event = tokio::time::timeout(Duration::from_secs(30), push.next())
        .await
        .expect("a state event for new mail")
        .unwrap()
        .unwrap();
    eprintln!("push: state event {:?} after delivery to Dovecot returned", delivered.elapsed());
    let pushed = match event {
        jmap_client::event_source::PushNotification::StateChange(c) => c,
        other => panic!("unexpected push {other:?}"),
    };
    let changed: Vec<String> =
        pushed.changes("becker").expect("the account changed").map(|(t, _)| format!("{t:?}")).collect();
    assert!(changed.iter().any(|t| t == "Email"), "{changed:?}");
    let changes = client.email_changes(&state, None).await.unwrap();
    assert_eq!(changes.created().len(), 1, "the new message is created since the earlier state");
    let new_id = changes.created()[0].clone();
    // Email/queryChanges from the first screen's query state: exactly the new message is added.
    let qc = client
        .email_query_changes(query.query_state(), Some(Filter::from(email::query::Filter::in_mailbox(&inbox_id))))
        .await
        .unwrap();
    assert_eq!(qc.added().iter().map(|a| a.id()).collect::<Vec<_>>(), vec![new_id.as_str()]);

    // $seen from the phone reaches Dovecot.
    let seen_id = emails[0].id().unwrap().to_string();
    let seen_subject = emails[0].subject().unwrap().to_string();
    client.email_set_keyword(&seen_id, "$seen", true).await.unwrap();
    eventually(Duration::from_secs(30), "\\Seen on Dovecot", || {
        let user = user.clone();
        async move { server_flags(&user, "INBOX").iter().filter(|(_, f)| f.contains("\\Seen")).count() == 1 }
    })
    .await;

    // A move to Trash and a destroy reach Dovecot.
    let moved_subject = emails[1].subject().unwrap().to_string();
    client.email_set_mailboxes(emails[1].id().unwrap(), [trash_id.as_str()]).await.unwrap();
    client.email_destroy(&new_id).await.unwrap();
    eventually(Duration::from_secs(30), "the move and the destroy on Dovecot", || {
        let (user, moved) = (user.clone(), moved_subject.clone());
        async move {
            let inbox = server_subjects(&user, "INBOX");
            let trash = server_subjects(&user, "Trash");
            trash == vec![moved.clone()]
                && inbox.len() == 2
                && !inbox.contains(&moved)
                && !inbox.iter().any(|s| s == "Neue Anfrage")
        }
    })
    .await;
    // The mirror, having seen the server since, neither brings the destroyed message back nor
    // duplicates the moved one; $seen stuck.
    d.app.wake_writeback("becker");
    eventually(Duration::from_secs(30), "the write-back queue empty", || {
        let app = d.app.clone();
        async move { app.store.writeback().pending("becker").unwrap() == 0 }
    })
    .await;
    let mut r = client.build();
    let q = r.query_email().calculate_total(true).result_reference();
    r.get_email().ids_ref(q).properties([
        email::Property::Subject,
        email::Property::MailboxIds,
        email::Property::Keywords,
    ]);
    let all = r.send().await.unwrap().unwrap_method_responses().pop().unwrap().unwrap_get_email().unwrap();
    let mut subjects: Vec<String> = all.list().iter().map(|e| e.subject().unwrap().to_string()).collect();
    subjects.sort();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    let moved = all.list().iter().find(|e| e.subject() == Some(moved_subject.as_str())).unwrap();
    assert_eq!(moved.mailbox_ids(), vec![trash_id.as_str()]);
    let seen = all.list().iter().find(|e| e.subject() == Some(seen_subject.as_str())).unwrap();
    assert!(seen.keywords().contains(&"$seen"));

    // Folders made on the phone: create, rename and destroy reach Dovecot.
    let folders = |user: String| async move {
        doveadm(&["mailbox", "list", "-u", &user]).lines().map(|l| l.trim().to_string()).collect::<Vec<_>>()
    };
    let m = client.mailbox_create("Projekte", None::<String>, Role::None).await.unwrap();
    let mid = m.id().unwrap().to_string();
    eventually(Duration::from_secs(30), "Projekte on Dovecot", || {
        let f = folders(user.clone());
        async move { f.await.contains(&"Projekte".to_string()) }
    })
    .await;
    client.mailbox_rename(&mid, "Baustellen").await.unwrap();
    eventually(Duration::from_secs(30), "renamed to Baustellen on Dovecot", || {
        let f = folders(user.clone());
        async move {
            let f = f.await;
            f.contains(&"Baustellen".to_string()) && !f.contains(&"Projekte".to_string())
        }
    })
    .await;
    client.mailbox_destroy(&mid, true).await.unwrap();
    eventually(Duration::from_secs(30), "Baustellen gone from Dovecot", || {
        let f = folders(user.clone());
        async move { !f.await.contains(&"Baustellen".to_string()) }
    })
    .await;

    // Email/import of an uploaded blob: the raw bytes come back by download, and the message
    // is appended on Dovecot.
    let raw = mail(9, "Importiert");
    let imported = client.email_import(raw.clone(), [inbox_id.clone()], None::<Vec<String>>, None).await.unwrap();
    assert_eq!(client.download(imported.blob_id().unwrap()).await.unwrap(), raw);
    eventually(Duration::from_secs(30), "the imported message on Dovecot", || {
        let user = user.clone();
        async move { server_subjects(&user, "INBOX").contains(&"Importiert".to_string()) }
    })
    .await;
    d.stop().await;
}

/// Tokens: none, wrong, revoked, the IMAP password; and what a device may see.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auth_and_account_isolation() {
    let (u1, p1) = support::unique_user("jmapauth-b");
    let (u2, p2) = support::unique_user("jmapauth-m");
    let (u3, p3) = support::unique_user("jmapauth-i");
    deliver(&u2, "INBOX", &mail(1, "Privat Mueller"));
    deliver(&u3, "INBOX", &mail(2, "Info Anfrage"));
    let d = daemon(&[
        Mb("becker", "employee", &u1, &p1),
        Mb("mueller", "employee", &u2, &p2),
        Mb("info", "shared", &u3, &p3),
    ])
    .await;

    // No token: 401 with both schemes offered.
    let (status, h, _) = d.http("GET", "/.well-known/jmap", &[], b"").await;
    assert_eq!(status, 401);
    let www = header(&h, "www-authenticate").expect("WWW-Authenticate");
    assert!(www.contains("Bearer") && www.contains("Basic"), "{www}");
    // The IMAP password is not a JMAP credential.
    use base64::Engine;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("becker:{p1}")));
    assert_eq!(d.http("GET", "/.well-known/jmap", &[("Authorization", &basic)], b"").await.0, 401);

    // The device CLI: add prints the token once, list shows the device, revoke ends it. (Run
    // in the test's directory: `add` writes the device's setup profile there.)
    let bin = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
            .current_dir(d.dir.path())
            .arg("--config")
            .arg(&d.config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let added = bin(&["device", "add", "--mailbox", "becker", "--name", "iPhone Becker", "--grant", "info"]);
    let token = added.lines().find(|l| l.len() == 43 && !l.contains(' ')).expect("the token line").to_string();
    let device_id: i64 = added.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(bin(&["device", "list"]).contains("iPhone Becker"));
    assert!(!bin(&["device", "list"]).contains(&token), "the token is never shown again");

    // Bearer and Basic (user = mailbox id) both work; Basic with another user name does not.
    let basic_ok = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("becker:{token}")));
    let basic_wrong_user =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("info:{token}")));
    let (status, _, body) = d.http("GET", "/.well-known/jmap", &[("Authorization", &basic_ok)], b"").await;
    assert_eq!(status, 200);
    let session: Value = serde_json::from_slice(&body).unwrap();
    for k in [
        "capabilities",
        "accounts",
        "primaryAccounts",
        "username",
        "apiUrl",
        "downloadUrl",
        "uploadUrl",
        "eventSourceUrl",
        "state",
    ] {
        assert!(session.get(k).is_some(), "session lacks {k}");
    }
    assert!(session["apiUrl"].as_str().unwrap().starts_with("http://127.0.0.1:"), "absolute URLs");
    let accounts: Vec<&String> = session["accounts"].as_object().unwrap().keys().collect();
    assert_eq!(accounts.len(), 2, "own mailbox and the granted shared one: {accounts:?}");
    assert!(session["accounts"]["info"]["isPersonal"] == false && session["accounts"]["becker"]["isPersonal"] == true);
    assert_eq!(session["capabilities"]["urn:ietf:params:jmap:core"]["maxCallsInRequest"], 16);
    assert_eq!(d.http("GET", "/.well-known/jmap", &[("Authorization", &basic_wrong_user)], b"").await.0, 401);

    // The granted shared mailbox is readable once mirrored; another employee's is not, nor
    // is a shared one the device was not granted (checked with a second device).
    let client = d.client(&token).await;
    eventually(Duration::from_secs(30), "the info mailbox mirrored", || {
        let d = &d;
        let token = token.clone();
        async move {
            let (_, v) = d
                .post(
                    &token,
                    &json!({"using": USING, "methodCalls": [
                ["Email/query", {"accountId": "info", "calculateTotal": true}, "q"]]}),
                )
                .await;
            v["methodResponses"][0][1]["total"] == 1
        }
    })
    .await;
    drop(client);
    for call in [
        json!(["Email/query", {"accountId": "mueller"}, "a"]),
        json!(["Mailbox/get", {"accountId": "mueller"}, "b"]),
        json!(["Email/get", {"accountId": "mueller", "ids": ["M1", "M2", "M3"]}, "c"]),
        json!(["Email/changes", {"accountId": "mueller", "sinceState": "x"}, "d"]),
        json!(["Email/set", {"accountId": "mueller", "destroy": ["M1"]}, "e"]),
    ] {
        let (status, v) = d.post(&token, &json!({"using": USING, "methodCalls": [call]})).await;
        assert_eq!(status, 200);
        assert_eq!(v["methodResponses"][0][0], "error");
        assert_eq!(v["methodResponses"][0][1]["type"], "accountNotFound", "{v}");
    }
    // Ids of another account are not found through one's own account either.
    let (_, v) = d
        .post(
            &token,
            &json!({"using": USING, "methodCalls": [["Email/get", {"accountId": "becker", "ids": ["M1", "M2"]}, "a"]]}),
        )
        .await;
    assert_eq!(v["methodResponses"][0][1]["list"], json!([]), "{v}");
    let plain = d.device("becker", &[]);
    let (_, v) =
        d.post(&plain, &json!({"using": USING, "methodCalls": [["Email/query", {"accountId": "info"}, "a"]]})).await;
    assert_eq!(v["methodResponses"][0][1]["type"], "accountNotFound");

    // Revoked: 401 from then on.
    bin(&["device", "revoke", &device_id.to_string()]);
    let bearer = format!("Bearer {token}");
    assert_eq!(d.http("GET", "/.well-known/jmap", &[("Authorization", &bearer)], b"").await.0, 401);
    assert!(Client::new().credentials(Credentials::bearer(token.as_str())).connect(&d.url).await.is_err());

    // Repeated wrong tokens from one address are refused with 429 and Retry-After, while a
    // valid token from the same address is still served.
    let mut statuses = Vec::new();
    let mut last = Vec::new();
    for _ in 0..12 {
        let (status, h, _) =
            d.http("GET", "/.well-known/jmap", &[("Authorization", "Bearer guessed-token")], b"").await;
        statuses.push(status);
        last = h;
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(header(&last, "retry-after").is_some());
    let good = format!("Bearer {plain}");
    let (status, _, _) = d.http("GET", "/.well-known/jmap", &[("Authorization", &good)], b"").await;
    assert_eq!(status, 200);
    d.stop().await;
}

/// Request-level errors (problem+json) and limits, and RFC 8620 result references end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_errors_limits_and_references() {
    let (user, pw) = support::unique_user("jmapreq");
    deliver(&user, "INBOX", &mail(1, "Erste"));
    deliver(&user, "INBOX", &format!("From: k@kunde.test\r\nSubject: Re: Erste\r\nMessage-ID: <r1.{}@x>\r\nIn-Reply-To: <m1.{}.5@kunde.test>\r\n\r\nAntwort\r\n", std::process::id(), std::process::id()).into_bytes());
    let d = daemon(&[Mb("becker", "employee", &user, &pw)]).await;
    let token = d.device("becker", &[]);
    let auth = format!("Bearer {token}");
    let post = |body: Vec<u8>, extra: Vec<(&'static str, String)>| {
        let d = &d;
        let auth = auth.clone();
        async move {
            let mut h: Vec<(&str, &str)> = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
            for (k, v) in &extra {
                h.push((k, v.as_str()));
            }
            let (s, hd, b) = d.http("POST", "/jmap/api/", &h, &body).await;
            (
                s,
                header(&hd, "content-type").unwrap_or("").to_string(),
                serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
            )
        }
    };
    let (s, ct, v) = post(b"{not json".to_vec(), vec![]).await;
    assert_eq!(
        (s, ct.as_str(), v["type"].as_str()),
        (400, "application/problem+json", Some("urn:ietf:params:jmap:error:notJSON"))
    );
    let (s, _, v) = post(br#"{"using": [], "calls": []}"#.to_vec(), vec![]).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:ietf:params:jmap:error:notRequest")));
    let (s, _, v) =
        post(json!({"using": ["urn:example:nope"], "methodCalls": []}).to_string().into_bytes(), vec![]).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:ietf:params:jmap:error:unknownCapability")));
    let calls: Vec<Value> = (0..17).map(|i| json!(["Core/echo", {"i": i}, format!("c{i}")])).collect();
    let (s, _, v) = post(json!({"using": USING, "methodCalls": calls}).to_string().into_bytes(), vec![]).await;
    assert_eq!(
        (s, v["type"].as_str(), v["limit"].as_str()),
        (400, Some("urn:ietf:params:jmap:error:limit"), Some("maxCallsInRequest"))
    );
    // Too large: refused from the Content-Length before the body is read.
    let (s, _, v) = post(Vec::new(), vec![("Content-Length", "20000000".into())]).await;
    assert_eq!((s, v["limit"].as_str()), (400, Some("maxSizeRequest")));
    // And a body that is larger than announced is cut off at the limit, too.
    let big = format!(r#"{{"using": [], "methodCalls": [], "pad": "{}"}}"#, "x".repeat(10_000_001));
    let (s, _, v) = post(big.into_bytes(), vec![]).await;
    assert_eq!((s, v["limit"].as_str()), (400, Some("maxSizeRequest")));

    // Method errors: unknown method, a method outside `using`, bad arguments; later calls still run.
    let (s, v) = d
        .post(
            &token,
            &json!({"using": ["urn:ietf:params:jmap:core"], "methodCalls": [
            ["Foo/bar", {}, "a"],
            ["Mailbox/get", {"accountId": "becker"}, "b"],
            ["Core/echo", {"hello": true}, "c"]]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["methodResponses"][0][1]["type"], "unknownMethod");
    assert_eq!(v["methodResponses"][1][1]["type"], "unknownMethod", "mail is not in using");
    assert_eq!(v["methodResponses"][2], json!(["Core/echo", {"hello": true}, "c"]));

    // Wait for the mirror, then the RFC 8620 section 3.7 chain in one request.
    eventually(Duration::from_secs(30), "two emails mirrored", || {
        let (d, token) = (&d, token.clone());
        async move {
            let (_, v) = d.post(&token, &json!({"using": USING, "methodCalls": [["Email/query", {"accountId": "becker", "calculateTotal": true}, "q"]]})).await;
            v["methodResponses"][0][1]["total"] == 2
        }
    })
    .await;
    let (_, v) = d
        .post(&token, &json!({"using": USING, "methodCalls": [
            ["Email/query", {"accountId": "becker", "sort": [{"property": "receivedAt", "isAscending": false}], "collapseThreads": true, "position": 0, "limit": 10, "calculateTotal": true}, "t0"],
            ["Email/get", {"accountId": "becker", "#ids": {"resultOf": "t0", "name": "Email/query", "path": "/ids"}, "properties": ["threadId"]}, "t1"],
            ["Thread/get", {"accountId": "becker", "#ids": {"resultOf": "t1", "name": "Email/get", "path": "/list/*/threadId"}}, "t2"],
            ["Email/get", {"accountId": "becker", "#ids": {"resultOf": "t2", "name": "Thread/get", "path": "/list/*/emailIds"},
              "properties": ["from", "receivedAt", "subject", "header:User-Agent:asText", "bodyValues", "textBody"], "fetchTextBodyValues": true}, "t3"],
            ["Email/get", {"accountId": "becker", "#ids": {"resultOf": "t0", "name": "Email/query", "path": "/nope"}}, "t4"]]}))
        .await;
    let r = &v["methodResponses"];
    assert_eq!(r[0][1]["total"], 1, "the reply joins the first message's thread: {v}");
    assert_eq!(r[2][1]["list"][0]["emailIds"].as_array().unwrap().len(), 2, "{v}");
    let list = r[3][1]["list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = list.iter().find(|e| e["subject"] == "Erste").unwrap();
    assert_eq!(first["header:User-Agent:asText"], "Testmailer 1.0");
    let part = first["textBody"][0]["partId"].as_str().unwrap();
    assert!(first["bodyValues"][part]["value"].as_str().unwrap().starts_with("Nachricht 1"));
    assert_eq!(r[4][1]["type"], "invalidResultReference");

    // Changes from a state that is not ours, and a too-small maxChanges.
    let (_, v) = d
        .post(
            &token,
            &json!({"using": USING, "methodCalls": [
        ["Email/changes", {"accountId": "becker", "sinceState": "0000000000000000-1"}, "a"],
        ["Email/changes", {"accountId": "becker", "sinceState": "x", "maxChanges": 0}, "b"],
        ["Email/get", {"accountId": "becker", "ids": ["M1"], "properties": ["bogus"]}, "c"]]}),
        )
        .await;
    assert_eq!(v["methodResponses"][0][1]["type"], "cannotCalculateChanges");
    assert_eq!(v["methodResponses"][1][1]["type"], "invalidArguments");
    assert_eq!(v["methodResponses"][2][1]["type"], "invalidArguments", "an unknown property is refused");
    d.stop().await;
}

async fn submission_status(d: &Daemon, token: &str, sub_id: &str) -> Value {
    let using = json!(["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"]);
    let (_, v) = d.post(token, &json!({"using": using, "methodCalls": [["EmailSubmission/get", {"accountId": "becker", "ids": [sub_id]}, "g"]]})).await;
    v["methodResponses"][0][1]["list"][0].clone()
}

/// A phone sends a draft: it waits in the queue while no office session is open, reaches
/// Postfix once one is, the submission's status follows the queue, and the email is in Sent
/// (locally at once, on Dovecot after write-back). Then vacation set from the phone is what
/// `postbote autoreply explain` decides on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submission_through_the_office_gate_and_vacation() {
    let SendingDirect { d, client, user, address, token, nanos } = daemon_sending_direct("jmapsub").await;

    // Wait for Drafts and Sent to be mirrored.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (drafts, sent) = loop {
        let mut r = client.build();
        r.get_mailbox();
        let list = r.send_get_mailbox().await.unwrap().take_list();
        let find = |role: Role| list.iter().find(|m| m.role() == role).map(|m| m.id().unwrap().to_string());
        if let (Some(d), Some(s)) = (find(Role::Drafts), find(Role::Sent)) {
            break (d, s);
        }
        assert!(Instant::now() < deadline, "Drafts and Sent not mirrored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rcpt = format!("jmapkunde{}x{nanos}@kunde.test", std::process::id());
    let subject = format!("Angebot {nanos}");
    let using = json!(["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"]);
    let (_, v) = d
        .post(&token, &json!({"using": using, "methodCalls": [
            ["Identity/get", {"accountId": "becker"}, "i"],
            ["Email/set", {"accountId": "becker", "create": {"draft": {
                "mailboxIds": {drafts.clone(): true}, "keywords": {"$draft": true, "$seen": true},
                "from": [{"name": "Hans Becker", "email": address}], "to": [{"email": rcpt}],
                "subject": subject, "textBody": [{"partId": "1", "type": "text/plain"}],
                "bodyValues": {"1": {"value": "Guten Tag, anbei das Angebot."}}}}}, "e"],
            ["EmailSubmission/set", {"accountId": "becker",
                "create": {"sub": {"identityId": "I0", "emailId": "#draft"}},
                "onSuccessUpdateEmail": {"#sub": {format!("mailboxIds/{drafts}"): null, format!("mailboxIds/{sent}"): true, "keywords/$draft": null}}}, "s"]]}))
        .await;
    let r = &v["methodResponses"];
    assert_eq!(r[0][1]["list"][0]["email"], address.as_str(), "{v}");
    let email_id =
        r[1][1]["created"]["draft"]["id"].as_str().unwrap_or_else(|| panic!("draft not created: {v}")).to_string();
    let sub_id = r[2][1]["created"]["sub"]["id"].as_str().unwrap_or_else(|| panic!("not submitted: {v}")).to_string();
    let sub_state = r[2][1]["newState"].as_str().unwrap().to_string();
    assert_eq!(r[3][0], "Email/set", "the implicit Email/set follows: {v}");
    assert_eq!(r[3][2], "s", "with the submission's call id");
    assert!(r[3][1]["updated"].get(&email_id).is_some(), "{v}");

    // The gate is closed: pending, nothing at Postfix.
    let s = submission_status(&d, &token, &sub_id).await;
    assert_eq!(s["undoStatus"], "pending", "{s}");
    assert_eq!(s["deliveryStatus"][rcpt.as_str()]["delivered"], "queued", "{s}");
    assert!(support::captured_for(&rcpt).is_empty(), "sent without an office session");

    // A second submission, cancelled while it waits: it never leaves.
    let rcpt2 = format!("jmapstorno{}x{nanos}@kunde.test", std::process::id());
    let (_, v) = d
        .post(&token, &json!({"using": using, "methodCalls": [
            ["Email/set", {"accountId": "becker", "create": {"d2": {
                "mailboxIds": {drafts.clone(): true}, "from": [{"email": address}], "to": [{"email": rcpt2}],
                "subject": "Storno", "textBody": [{"partId": "1"}], "bodyValues": {"1": {"value": "doch nicht"}}}}}, "e"],
            ["EmailSubmission/set", {"accountId": "becker", "create": {"s2": {"identityId": "I0", "emailId": "#d2"}}}, "s"]]}))
        .await;
    let sub2 = v["methodResponses"][1][1]["created"]["s2"]["id"].as_str().unwrap_or_else(|| panic!("{v}")).to_string();
    let (_, v) = d
        .post(&token, &json!({"using": using, "methodCalls": [["EmailSubmission/set", {"accountId": "becker", "update": {sub2.clone(): {"undoStatus": "canceled"}}}, "c"]]}))
        .await;
    assert!(v["methodResponses"][0][1]["updated"].get(&sub2).is_some(), "{v}");
    assert_eq!(submission_status(&d, &token, &sub2).await["undoStatus"], "canceled");

    // An office session opens: the message reaches Postfix and the status follows.
    postbote::outbox::session_login(&d.app, "buero", None).unwrap();
    d.app.outbox_wake.notify_one();
    let t0 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while support::captured_for(&rcpt).is_empty() {
        assert!(Instant::now() < deadline, "nothing reached Postfix for {rcpt}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("postfix got it {:?} after the session opened", t0.elapsed());
    let eml = String::from_utf8_lossy(&support::captured_for(&rcpt)[0].raw).into_owned();
    assert!(eml.contains(&subject) && eml.contains("Guten Tag, anbei das Angebot."), "{eml}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = submission_status(&d, &token, &sub_id).await;
        if s["undoStatus"] == "final" && s["deliveryStatus"][rcpt.as_str()]["delivered"] == "yes" {
            break;
        }
        assert!(Instant::now() < deadline, "the submission status did not follow the queue: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The queue's progress is an EmailSubmission change (for /changes and push).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = d
            .post(&token, &json!({"using": using, "methodCalls": [["EmailSubmission/changes", {"accountId": "becker", "sinceState": sub_state}, "c"]]}))
            .await;
        if v["methodResponses"][0][1]["updated"].as_array().is_some_and(|u| u.contains(&json!(sub_id))) {
            break;
        }
        assert!(Instant::now() < deadline, "no EmailSubmission update for the sent message: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, v) = d
        .post(&token, &json!({"using": using, "methodCalls": [
            ["EmailSubmission/query", {"accountId": "becker", "filter": {"emailIds": [email_id], "undoStatus": "final"}, "sort": [{"property": "sentAt"}]}, "q"],
            ["EmailSubmission/set", {"accountId": "becker", "update": {sub_id.clone(): {"undoStatus": "canceled"}}}, "c"],
            ["PushSubscription/set", {"create": {"p": {"deviceClientId": "x", "url": "http://push.example/x", "types": null}}}, "p"]]}))
        .await;
    let r = &v["methodResponses"];
    assert_eq!(r[0][1]["ids"], json!([sub_id]), "{v}");
    assert_eq!(
        r[1][1]["notUpdated"][sub_id.as_str()]["type"],
        "cannotUnsend",
        "a sent message cannot be cancelled: {v}"
    );
    // Push goes to https:// URLs only (tests/it/jmap_push.rs covers the rest of it).
    assert_eq!(r[2][1]["notCreated"]["p"]["type"], "invalidProperties", "{v}");
    assert_eq!(r[2][1]["notCreated"]["p"]["properties"], json!(["url"]), "{v}");
    // In Sent: for the phone at once, on Dovecot once written back.
    assert!(support::captured_for(&rcpt2).is_empty(), "the cancelled submission was sent");
    let mut r = client.build();
    r.get_email().ids([email_id.as_str()]).properties([email::Property::MailboxIds, email::Property::Keywords]);
    let e = r.send_get_email().await.unwrap().take_list().pop().unwrap();
    assert_eq!(e.mailbox_ids(), vec![sent.as_str()]);
    assert!(!e.keywords().contains(&"$draft"));
    eprintln!("status final {:?} after the session opened", t0.elapsed());
    eventually(Duration::from_secs(30), "the sent message in Sent on Dovecot", || {
        let (user, subject) = (user.clone(), subject.clone());
        async move {
            server_subjects(&user, "Sent").contains(&subject) && !server_subjects(&user, "Drafts").contains(&subject)
        }
    })
    .await;
    // The outbox settles its own Sent copy without putting a second one beside the phone's.
    eventually(Duration::from_secs(30), "the outbox's Sent copy settled", || {
        let app = d.app.clone();
        async move {
            app.store
                .outbox()
                .list(Some("becker"), Some(postbote::outbox::State::Sent), 50)
                .unwrap()
                .iter()
                .all(|m| m.sent_copy_done)
        }
    })
    .await;
    let copies = server_subjects(&user, "Sent").iter().filter(|s| **s == subject).count();
    assert_eq!(copies, 1, "one copy of the submitted message in Sent on Dovecot, not two");

    // Vacation from the phone is what the auto-responder decides on.
    let msg = d.dir.path().join("kunde.eml");
    std::fs::write(&msg, format!("Return-Path: <kunde@kunde.test>\r\nFrom: Kunde <kunde@kunde.test>\r\nTo: {address}\r\nSubject: Frage\r\nMessage-ID: <q{nanos}@kunde.test>\r\nDate: Mon, 2 Nov 2026 09:15:00 +0100\r\n\r\nHallo\r\n")).unwrap();
    let tz = d.app.config.agent.time_zone;
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string();
    let explain = || {
        let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
            .arg("--config")
            .arg(&d.config)
            .args(["autoreply", "explain", "--mailbox", "becker", msg.to_str().unwrap(), "--at", &at, "--json"])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let before = explain();
    assert_eq!((before["decision"].as_str(), before["reason"].as_str()), (Some("skip"), Some("disabled")), "{before}");
    let vusing = json!(["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:vacationresponse"]);
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let to = (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (_, v) = d
        .post(&token, &json!({"using": vusing, "methodCalls": [
            ["VacationResponse/set", {"accountId": "becker", "update": {"singleton": {"isEnabled": true, "fromDate": from, "toDate": to, "textBody": "Bin im Urlaub."}}}, "v"],
            ["VacationResponse/get", {"accountId": "becker"}, "g"],
            ["VacationResponse/set", {"accountId": "becker", "create": {"x": {}}, "destroy": ["singleton"]}, "w"]]}))
        .await;
    let r = &v["methodResponses"];
    assert!(r[0][1]["updated"].get("singleton").is_some(), "{v}");
    assert_eq!(r[1][1]["list"][0]["isEnabled"], true);
    assert_eq!(r[1][1]["list"][0]["textBody"], "Bin im Urlaub.");
    assert_eq!(r[2][1]["notCreated"]["x"]["type"], "singleton");
    assert_eq!(r[2][1]["notDestroyed"]["singleton"]["type"], "singleton");
    let e = explain();
    assert_eq!(e["decision"], "reply", "{e}");
    d.stop().await;
}

/// A phone's keyword change queued while the server changed other flags meanwhile: the queue
/// survives a restart (nothing is lost while IMAP is unreachable), and after the write-back and
/// the next sync both sides' flags are there, on the server and for the phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writeback_survives_restart_and_merges_with_server_flags() {
    postbote::tls::install_provider();
    let (user, pw) = support::unique_user("jmapwb");
    deliver(&user, "INBOX", &mail(1, "Konflikt"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), &pw).unwrap();
    let text = format!(
        "[agent]\ndata_dir = \"{d}/data\"\n[imap]\nhost = \"127.0.0.1\"\nport = 10993\ntls = \"implicit\"\nca_file = \"{ca}\"\n\
         [relay]\nhost = \"127.0.0.1\"\nport = 10587\n[[mailbox]]\nid = \"becker\"\nname = \"B\"\naddresses = [\"becker@bau-firma.test\"]\n\
         hosted_address = \"{user}\"\npassword_file = \"{d}/pw\"\nfolders = [\"INBOX\"]\n",
        d = dir.path().display(),
        ca = stack_dir().join("certs/cert.pem").display(),
    );
    let path = dir.path().join("postbote.toml");
    std::fs::write(&path, text).unwrap();
    let open = || {
        let cfg = Config::load(&path).unwrap();
        let store = Store::open(&cfg.store_path()).unwrap();
        store.ensure_accounts(["becker"]).unwrap();
        App::new(Arc::new(cfg), store)
    };
    let app = open();
    postbote::mirror::sync_once(&app, "becker", false).await.unwrap();
    let id = app.store.messages().list("becker", None, 10).unwrap()[0].id;
    // The phone flags it (store + queue, no IMAP), then the process ends before a drain.
    let upd = postbote::store::email_set::EmailUpdate {
        keywords: Some(postbote::store::email_set::KeywordPatch::Set(vec![("$flagged".into(), true)])),
        folder: None,
    };
    app.store.emails().set("becker", None, &[(id, upd)], &[]).unwrap().unwrap();
    drop(app);
    // Meanwhile another client marks it read on the server.
    doveadm(&["flags", "add", "-u", &user, "\\Seen", "mailbox", "INBOX", "all"]);
    // After the restart the change is still queued; the next sync pass writes it back first.
    let app = open();
    assert_eq!(app.store.writeback().pending("becker").unwrap(), 1, "the queued change survived the restart");
    postbote::mirror::sync_once(&app, "becker", false).await.unwrap();
    postbote::mirror::sync_once(&app, "becker", false).await.unwrap();
    assert_eq!(app.store.writeback().pending("becker").unwrap(), 0);
    let flags = server_flags(&user, "INBOX");
    assert!(flags[0].1.contains("\\Seen") && flags[0].1.contains("\\Flagged"), "server: {flags:?}");
    let kw = app.store.messages().list("becker", None, 10).unwrap()[0].keywords.clone();
    assert_eq!(kw, vec!["$flagged".to_string(), "$seen".to_string()], "store");
}

/// With a certificate configured the server speaks TLS (and a client that checks the chain
/// against the stack's CA gets the session with https URLs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_the_session() {
    let (user, pw) = support::unique_user("jmaptls");
    let d = daemon_full(&[Mb("becker", "employee", &user, &pw)], None, true).await;
    let token = d.device("becker", &[]);
    // Plain HTTP on the TLS port gets no JMAP answer.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    s.write_all(b"GET /.well-known/jmap HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out)).await;
    assert!(!out.starts_with(b"HTTP/1.1 401"), "plain HTTP was answered on the TLS port");
    // TLS, verified against the stack's CA.
    let config = postbote::tls::client_config(Some(&stack_dir().join("certs/cert.pem"))).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(postbote::tls::server_name("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(format!("GET /.well-known/jmap HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(&format!("\"apiUrl\":\"https://localhost:{}/jmap/api/\"", d.port)), "{text}");
    d.stop().await;
}

/// maxConcurrentRequests and the upload limits are enforced, not only advertised: a device with
/// four API requests in flight gets a `limit` problem for the fifth and is served again once
/// they end; an upload announced larger than maxSizeUpload is refused before its body is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_and_upload_limits_are_enforced() {
    use postbote::jmap::limits;
    let (user, pw) = support::unique_user("jmaplimits");
    let d = daemon(&[Mb("becker", "employee", &user, &pw)]).await;
    let token = d.device("becker", &[]);
    let other = d.device("becker", &[]);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let echo = json!({"using": USING, "methodCalls": [["Core/echo", {"hello": true}, "0"]]});

    // Requests whose bodies never finish arriving hold their permits. One that reached the
    // server after a probe took the last permit was refused itself: it is replaced.
    let hold = || async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
        let head = format!(
            "POST /jmap/api/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s
    };
    let mut held = Vec::new();
    for _ in 0..limits::MAX_CONCURRENT_REQUESTS {
        held.push(hold().await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        for s in held.iter_mut() {
            let mut buf = [0u8; 512];
            if !matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                *s = hold().await;
            }
        }
        let (status, v) = d.post(&token, &echo).await;
        if status == 429 {
            break v;
        }
        assert_eq!(status, 200, "{v}");
        assert!(Instant::now() < deadline, "the fifth request in flight was never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused["type"], "urn:ietf:params:jmap:error:limit", "{refused}");
    assert_eq!(refused["limit"], "maxConcurrentRequests", "{refused}");
    // The limit is per device: another phone of the same mailbox is served meanwhile.
    let (status, v) = d.post(&other, &echo).await;
    assert_eq!((status, &v["methodResponses"][0][1]["hello"]), (200, &json!(true)), "{v}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = d.post(&token, &echo).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{v}");
        assert!(Instant::now() < deadline, "the permits of closed requests were never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // An upload announced one byte over the limit is refused from its header alone.
    let too_big = (limits::MAX_SIZE_UPLOAD + 1).to_string();
    let bearer = format!("Bearer {token}");
    let (status, _, body) = d
        .http(
            "POST",
            "/jmap/upload/becker/",
            &[("Authorization", &bearer), ("Content-Type", "image/jpeg"), ("Content-Length", &too_big)],
            b"",
        )
        .await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!((status, v["limit"].as_str()), (413, Some("maxSizeUpload")), "{v}");
    // One within the limit is stored and can be downloaded again.
    let (status, _, body) = d
        .http("POST", "/jmap/upload/becker/", &[("Authorization", &bearer), ("Content-Type", "text/plain")], b"Aufmass")
        .await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, v["size"].as_u64()), (201, Some(7)), "{v}");
    d.stop().await;
}

/// A mailbox a phone creates is created on the server and then mirrored like a configured
/// folder: the mirror's next look at the server's folder list (every reconnect does one) keeps
/// it, with its id and the mail moved into it, and new mail put into it on the server arrives.
/// The same holds after the phone renames it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mailbox_made_on_the_phone_is_mirrored_and_survives_rediscovery() {
    let (user, pw) = support::unique_user("jmapmbox");
    deliver(&user, "INBOX", &mail(1, "Auftrag Meier"));
    deliver(&user, "INBOX", &mail(2, "Auftrag Schulz"));
    let d = daemon(&[Mb("becker", "employee", &user, &pw)]).await;
    let token = d.device("becker", &[]);
    let mut m1 = None;
    eventually(Duration::from_secs(30), "the two messages mirrored", || {
        let l = d.app.store.messages().list("becker", Some("INBOX"), 10).unwrap();
        m1 = l.iter().find(|m| m.subject == "Auftrag Meier").map(|m| m.id);
        std::future::ready(l.len() == 2)
    })
    .await;
    let email_id = postbote::jmap::ids::email(m1.unwrap());

    let (s, v) = d
        .post(
            &token,
            &json!({"using": USING, "methodCalls": [
                ["Mailbox/set", {"accountId": "becker", "create": {"k": {"name": "Erledigt"}}}, "0"],
                ["Email/set", {"accountId": "becker", "update": {email_id.clone(): {"mailboxIds": {"#k": true}}}}, "1"]]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let mbox = v["methodResponses"][0][1]["created"]["k"]["id"].as_str().expect("created").to_string();
    assert!(v["methodResponses"][1][1]["updated"].get(&email_id).is_some(), "{v}");
    eventually(Duration::from_secs(30), "the folder and the move on the server", || {
        let list = doveadm(&["mailbox", "list", "-u", &user]);
        std::future::ready(
            list.lines().any(|l| l.trim() == "Erledigt") && server_subjects(&user, "Erledigt") == ["Auftrag Meier"],
        )
    })
    .await;

    // A fresh session looks at the folder list again (as every reconnect does).
    let check = |name: &'static str| {
        let (d, token, mbox, email_id) = (&d, token.clone(), mbox.clone(), email_id.clone());
        async move {
            postbote::mirror::sync_once(&d.app, "becker", false).await.unwrap();
            let (_, v) = d
                .post(
                    &token,
                    &json!({"using": USING, "methodCalls": [
                        ["Mailbox/get", {"accountId": "becker", "ids": [mbox.clone()], "properties": ["name", "totalEmails"]}, "0"],
                        ["Email/query", {"accountId": "becker", "filter": {"inMailbox": mbox}}, "1"]]}),
                )
                .await;
            let got = &v["methodResponses"][0][1]["list"][0];
            assert_eq!(got["name"], name, "the mailbox is still there after rediscovery: {v}");
            let ids = v["methodResponses"][1][1]["ids"].as_array().cloned().unwrap_or_default();
            assert!(ids.contains(&json!(email_id)), "the moved email is still in it: {v}");
            ids.len()
        }
    };
    assert_eq!(check("Erledigt").await, 1);
    deliver(&user, "Erledigt", &mail(3, "Rechnung Meier"));
    assert_eq!(check("Erledigt").await, 2, "new mail in it on the server is mirrored");

    // Renamed on the phone: the server follows and the mirror keeps it under the new name.
    let (_, v) = d
        .post(
            &token,
            &json!({"using": USING, "methodCalls": [
                ["Mailbox/set", {"accountId": "becker", "update": {mbox.clone(): {"name": "Erledigt 2026"}}}, "0"]]}),
        )
        .await;
    assert!(v["methodResponses"][0][1]["updated"].get(&mbox).is_some(), "{v}");
    eventually(Duration::from_secs(30), "the rename on the server", || {
        let list = doveadm(&["mailbox", "list", "-u", &user]);
        std::future::ready(list.lines().any(|l| l.trim() == "Erledigt 2026"))
    })
    .await;
    assert_eq!(check("Erledigt 2026").await, 2);
    d.stop().await;
}

/// Mailboxes nest as the server's folders do: a phone creates a parent and a child in one
/// request (the child by a creation reference), sees the child below the parent, cannot
/// destroy a parent that has children or move a mailbox below itself, and renaming or moving
/// reaches Dovecot, the children travelling with their parent, ids kept across a rediscovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nested_mailboxes_follow_the_server_hierarchy() {
    let (user, pw) = support::unique_user("jmapnest");
    deliver(&user, "INBOX", &mail(1, "Auftrag"));
    let d = daemon(&[Mb("becker", "employee", &user, &pw)]).await;
    let token = d.device("becker", &[]);
    eventually(Duration::from_secs(30), "the first sync", || {
        std::future::ready(d.app.store.messages().list("becker", Some("INBOX"), 10).unwrap().len() == 1)
    })
    .await;
    let call = |calls: Value| {
        let (d, token) = (&d, token.clone());
        async move {
            let (s, v) = d.post(&token, &json!({"using": USING, "methodCalls": calls})).await;
            assert_eq!(s, 200, "{v}");
            v["methodResponses"].clone()
        }
    };
    let folders = || {
        let list = doveadm(&["mailbox", "list", "-u", &user]);
        list.lines().map(|l| l.trim().to_string()).collect::<Vec<_>>()
    };

    let r = call(json!([["Mailbox/set", {"accountId": "becker", "create": {
        // The child's creation id sorts first: the parent must still be created before it.
        "zk": {"name": "Kunden"}, "am": {"name": "Meier", "parentId": "#zk"}, "bad": {"name": "a/b"}}}, "0"]]))
    .await;
    let k = r[0][1]["created"]["zk"]["id"].as_str().expect("parent created").to_string();
    let m = r[0][1]["created"]["am"]["id"].as_str().expect("child created").to_string();
    assert_eq!(r[0][1]["created"]["am"]["parentId"], json!(k));
    assert_eq!(r[0][1]["notCreated"]["bad"]["properties"], json!(["name"]), "the delimiter is not part of a name");
    eventually(Duration::from_secs(30), "Kunden/Meier on the server", || {
        std::future::ready(folders().contains(&"Kunden/Meier".to_string()))
    })
    .await;

    let r = call(json!([
        ["Mailbox/get", {"accountId": "becker", "ids": [m.clone()], "properties": ["name", "parentId", "myRights"]}, "0"],
        ["Mailbox/query", {"accountId": "becker", "filter": {"parentId": k.clone()}}, "1"],
        ["Mailbox/query", {"accountId": "becker", "sort": [{"property": "name"}], "sortAsTree": true}, "2"],
        ["Mailbox/set", {"accountId": "becker", "destroy": [k.clone()],
            "update": {k.clone(): {"parentId": m.clone()}}}, "3"]]))
    .await;
    assert_eq!(r[0][1]["list"][0]["name"], "Meier");
    assert_eq!(r[0][1]["list"][0]["parentId"], json!(k));
    assert_eq!(r[0][1]["list"][0]["myRights"]["mayCreateChild"], true);
    assert_eq!(r[1][1]["ids"], json!([m]));
    let order: Vec<String> = serde_json::from_value(r[2][1]["ids"].clone()).unwrap();
    let pk = order.iter().position(|i| *i == k).unwrap();
    assert_eq!(order.get(pk + 1), Some(&m), "sortAsTree: the child right after its parent: {order:?}");
    assert_eq!(r[3][1]["notDestroyed"][&k]["type"], "mailboxHasChild");
    assert_eq!(r[3][1]["notUpdated"][&k]["properties"], json!(["parentId"]), "not below itself");

    // Renaming the parent carries the child along, on the phone and on the server.
    let r =
        call(json!([["Mailbox/set", {"accountId": "becker", "update": {k.clone(): {"name": "Kunden 2026"}}}, "0"]]))
            .await;
    assert!(r[0][1]["updated"].get(&k).is_some(), "{r}");
    eventually(Duration::from_secs(30), "the rename on the server", || {
        std::future::ready(folders().contains(&"Kunden 2026/Meier".to_string()))
    })
    .await;
    postbote::mirror::sync_once(&d.app, "becker", false).await.unwrap();
    let r = call(json!([["Mailbox/get", {"accountId": "becker", "ids": [k.clone(), m.clone()], "properties": ["name", "parentId"]}, "0"]])).await;
    assert_eq!(r[0][1]["list"][0]["name"], "Kunden 2026", "{r}");
    assert_eq!((&r[0][1]["list"][1]["name"], &r[0][1]["list"][1]["parentId"]), (&json!("Meier"), &json!(k)), "{r}");

    // Moved to the top: its own folder on the server, no longer below the parent.
    let r = call(json!([["Mailbox/set", {"accountId": "becker", "update": {m.clone(): {"parentId": null}}}, "0"],
        ["Mailbox/get", {"accountId": "becker", "ids": [m.clone()], "properties": ["name", "parentId"]}, "1"]]))
    .await;
    assert_eq!((&r[1][1]["list"][0]["name"], &r[1][1]["list"][0]["parentId"]), (&json!("Meier"), &Value::Null), "{r}");
    eventually(Duration::from_secs(30), "Meier at the top on the server", || {
        let f = folders();
        std::future::ready(f.contains(&"Meier".to_string()) && !f.contains(&"Kunden 2026/Meier".to_string()))
    })
    .await;
    d.stop().await;
}

/// `jmap::serve` that cannot start (its port is taken, its certificate is not one) leaves no
/// task behind, and one that is dropped takes its helpers with it: the daemon restarts a
/// failed server with backoff, and each restart once added a change-log purger and a
/// submission poller that ran for ever. Counted with the runtime's own number of live tasks.
#[tokio::test(flavor = "current_thread")]
async fn serve_leaves_no_task_behind_when_it_cannot_start_or_is_dropped() {
    postbote::tls::install_provider();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "x\n").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let app_with = |jmap: String| {
        let text = format!(
            "[agent]\ndata_dir = \"{d}/data\"\n[imap]\nhost = \"127.0.0.1\"\nport = 10993\ntls = \"implicit\"\nca_file = \"{ca}\"\n\
             [relay]\nhost = \"127.0.0.1\"\nport = 10587\n[jmap]\n{jmap}\n[[mailbox]]\nid = \"becker\"\nname = \"B\"\n\
             addresses = [\"becker@bau-firma.test\"]\nhosted_address = \"nobody@bau-firma.test\"\npassword_file = \"{d}/pw\"\nfolders = [\"INBOX\"]\n",
            d = dir.path().display(),
            ca = stack_dir().join("certs/cert.pem").display(),
        );
        let path = dir.path().join("postbote.toml");
        std::fs::write(&path, text).unwrap();
        let cfg = Config::load(&path).unwrap();
        let store = Store::open(&cfg.store_path()).unwrap();
        store.ensure_accounts(["becker"]).unwrap();
        App::new(Arc::new(cfg), store)
    };
    let alive = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    // Aborted tasks end at their next poll: give them a moment, never a fixed sleep. The
    // deadline is generous because a loaded machine may be slow to poll them; a task that
    // never ends fails it all the same.
    async fn settles_to(alive: impl Fn() -> usize, want: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive() > want {
            assert!(Instant::now() < deadline, "{what}: {} tasks alive, {want} before", alive());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    let busy = app_with(format!("listen = \"127.0.0.1:{taken_port}\""));
    let before = alive();
    for _ in 0..5 {
        let e = postbote::jmap::serve(busy.clone(), CancellationToken::new()).await.unwrap_err();
        assert!(e.to_string().contains("cannot listen"), "{e}");
    }
    settles_to(alive, before, "after five failed binds").await;

    let port = free_port();
    let bad_cert = app_with(format!(
        "listen = \"127.0.0.1:{port}\"\ntls_cert = \"{d}/pw\"\ntls_key = \"{d}/pw\"\npublic_url = \"https://localhost:{port}\"",
        d = dir.path().display()
    ));
    for _ in 0..5 {
        let e = postbote::jmap::serve(bad_cert.clone(), CancellationToken::new()).await.unwrap_err();
        assert!(e.to_string().contains("TLS certificate"), "{e}");
    }
    settles_to(alive, before, "after five failed TLS setups").await;

    // Running, then dropped without being cancelled (a supervisor's select! that took
    // another branch): its helpers end with it.
    let port = free_port();
    let fine = app_with(format!("listen = \"127.0.0.1:{port}\""));
    {
        let serve = postbote::jmap::serve(fine, CancellationToken::new());
        tokio::pin!(serve);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            tokio::select! {
                r = &mut serve => panic!("serve ended on its own: {r:?}"),
                c = tokio::net::TcpStream::connect(("127.0.0.1", port)) => if c.is_ok() { break },
            }
            assert!(Instant::now() < deadline, "the JMAP port did not open");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(alive() > before, "a running server has its helpers");
    }
    settles_to(alive, before, "after dropping a running server").await;
    drop(taken);
}

/// A phone's submission cancelled from the command line (another process, `postbote queue
/// cancel`) is logged in that process's transaction (`store::outbox::follow`) and broadcast
/// only there; the daemon notices the other process's commit (`Store::notice_other_writers`)
/// and pushes it to the phone within a second or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_submission_cancelled_from_another_process_is_pushed() {
    // Direct transport, no office session: the message waits in the queue.
    let SendingDirect { d, client, address, nanos, .. } = daemon_sending_direct("jmapcli").await;
    // Let the first sync settle, so no mirror change carries the submission's state along.
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.app.store.folders().all("becker").unwrap().iter().all(|f| f.role.as_deref() != Some("sent")) {
        assert!(Instant::now() < deadline, "Sent not mirrored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let raw = format!("From: {address}\r\nTo: kunde{nanos}@kunde.test\r\nSubject: Storno\r\n\r\ndoch nicht\r\n");
    let q = postbote::outbox::enqueue(
        &d.app,
        postbote::outbox::Outgoing {
            mailbox: "becker".into(),
            raw: raw.into_bytes(),
            recipients: None,
            origin: postbote::outbox::Origin::Phone,
            discard_after: None,
        },
    )
    .unwrap();
    d.app.store.submissions().add("becker", 1, 1, "I0", q.id, "{}").unwrap();
    let mut push = client.event_source(None::<Vec<jmap_client::DataType>>, false, None, None).await.unwrap();
    // A state event for the submission's creation may come first; take what is there.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), push.next()).await {}

    // `postbote queue cancel`: its own process, its own store handle.
    let cli = App::new(Arc::new(Config::load(&d.config).unwrap()), Store::open(&d.app.config.store_path()).unwrap());
    assert!(postbote::outbox::cancel(&cli, q.id, "cancelled by a person").unwrap());
    let event = tokio::time::timeout(Duration::from_secs(10), push.next()).await;
    assert!(
        matches!(event, Ok(Some(Ok(_)))),
        "no push within 10 s for a submission cancelled by another process: {event:?}"
    );
    d.stop().await;
}
