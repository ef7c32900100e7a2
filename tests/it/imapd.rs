//! The IMAP server for phones against real clients and the real Dovecot: mbsync (isync, a
//! strict client) mirrors a mailbox out of postbote and compares the bytes with what it gets
//! from Dovecot; Python's imaplib plays the phone for logins, namespaces, flags, moves,
//! APPEND, IDLE, QRESYNC and two sessions on one folder. Each test makes its own Dovecot
//! users, daemon and ports, so they run in parallel.
//!
//! Which of these need the real FETCH/SEARCH renderer (branch `imapd-render`) rather than the
//! stand-in: `bodystructure_of_a_german_multipart_and_search_text_for_an_umlaut`.

use std::time::{Duration, Instant};

use crate::support::imapd::{self, Imapd, maildir_messages, mbsync, mbsync_config, python};

use crate::support::jmapd::{Builder, Mailbox, eventually};
use crate::support::{self, doveadm};

const FOLDERS: &str = r#"["INBOX", "\\Sent", "\\Drafts", "\\Trash", "\\Archive"]"#;

fn mail(n: u32, subject: &str) -> Vec<u8> {
    format!(
        "From: Kunde {n} <kunde{n}@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <i{n}.{}@kunde.test>\r\n\r\nNachricht {n}: Angebot Badsanierung\r\n",
        support::unique_token()
    )
    .into_bytes()
}

/// A German multipart message with a quoted-printable body and a PDF attachment.
fn german_multipart() -> Vec<u8> {
    let text = "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <mueller@kunde.test>\r\n\
To: becker@bau-firma.test\r\n\
Subject: =?UTF-8?Q?Angebot_f=C3=BCr_die_Fu=C3=9Fbodenheizung?=\r\n\
Date: Tue, 3 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <multi.GID@kunde.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"grenze\"\r\n\
\r\n\
--grenze\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Sehr geehrter Herr Becker,\r\n\
anbei das Angebot f=C3=BCr die Fu=C3=9Fbodenheizung im Erdgeschoss. Die Gr=C3=B6=C3=9Fe\r\n\
der Fl=C3=A4che betr=C3=A4gt 42 m=C2=B2.\r\n\
--grenze\r\n\
Content-Type: application/pdf; name=\"Angebot.pdf\"\r\n\
Content-Disposition: attachment; filename=\"Angebot.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKJSVFT0YK\r\n\
--grenze--\r\n";
    text.replace("GID", &support::unique_token()).into_bytes()
}

/// A daemon for one fresh Dovecot user as mailbox "becker" with `n` messages mirrored, and a
/// device token for it.
async fn setup(prefix: &str, n: u32) -> (Imapd, String, String, String) {
    let (user, pw) = support::unique_user(prefix);
    for i in 1..=n {
        support::deliver(&user, &mail(i, &format!("Nachricht {i}")));
    }
    let s = imapd::start(Builder::new().mailbox(Mailbox::new("becker", &user, &pw).folders(FOLDERS))).await;
    let store = s.d.app.store.clone();
    eventually(Duration::from_secs(30), "the mirror brings the inbox in", || {
        let store = store.clone();
        async move {
            store
                .mailboxes()
                .all("becker")
                .unwrap()
                .iter()
                .any(|m| m.role.as_deref() == Some("inbox") && m.total == n as i64)
        }
    })
    .await;
    let token = s.d.device("becker", &[]);
    (s, user, pw, token)
}

/// (uid, flags) of the messages of a folder on Dovecot.
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

async fn until_server(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn mbsync_gets_the_bytes_dovecot_has_and_a_flag_goes_back() {
    let (s, user, pw, token) = setup("imapd-mbsync", 3).await;
    support::deliver(&user, &german_multipart());
    let store = s.d.app.store.clone();
    eventually(Duration::from_secs(30), "the fourth message is mirrored", || {
        let store = store.clone();
        async move { store.mailboxes().all("becker").unwrap().iter().any(|m| m.total == 4) }
    })
    .await;

    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let rc = mbsync_config(ours.path(), s.port, false, "becker", &token, "All");
    mbsync(&rc).await;
    let rc2 = mbsync_config(theirs.path(), 10993, true, &user, &pw, "Pull");
    mbsync(&rc2).await;
    let a = maildir_messages(&ours.path().join("maildir"));
    let b = maildir_messages(&theirs.path().join("maildir"));
    // mbsync marks each message it stores with a random X-TUID line: leave it out.
    let inbox = |v: &[(String, Vec<u8>)]| -> Vec<String> {
        let mut m: Vec<String> = v
            .iter()
            .filter(|(f, _)| f == "INBOX")
            .map(|(_, b)| {
                String::from_utf8_lossy(b).lines().filter(|l| !l.starts_with("X-TUID: ")).collect::<Vec<_>>().join("\n")
            })
            .collect();
        m.sort();
        m
    };
    assert_eq!(inbox(&a).len(), 4, "{:?}", a.iter().map(|x| &x.0).collect::<Vec<_>>());
    assert_eq!(inbox(&a), inbox(&b), "the same bytes as from Dovecot");

    // Flag one message in the Maildir (mbsync's near side) and sync back.
    let cur = ours.path().join("maildir/INBOX/cur");
    let file = ["cur", "new"]
        .iter()
        .flat_map(|d| std::fs::read_dir(ours.path().join("maildir/INBOX").join(d)).unwrap().flatten().map(|e| e.path()))
        .min()
        .unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let flagged = match name.split_once(":2,") {
        Some((base, flags)) => format!("{base}:2,F{flags}"),
        None => format!("{name}:2,F"),
    };
    std::fs::rename(&file, cur.join(flagged)).unwrap();
    mbsync(&rc).await;
    until_server(Duration::from_secs(30), "\\Flagged reaches Dovecot", || {
        server_flags(&user, "INBOX").iter().any(|(_, f)| f.contains("\\Flagged"))
    })
    .await;
    s.d.stop().await;
}

#[tokio::test]
async fn login_with_a_token_special_use_store_move_and_append_reach_dovecot() {
    let (s, user, _pw, token) = setup("imapd-phone", 3).await;
    let out = python(
        s.port,
        "becker@bau-firma.test",
        &token,
        "",
        r#"
M = connect()
try:
    M.login(USER, 'falsch')
    print('wrong token accepted')
except imaplib.IMAP4.error as e:
    print('refused')
M = login()
typ, caps = M.capability()
print('caps', caps[0].decode())
typ, lst = M.list()
for l in lst:
    print('list', l.decode())
typ, ns = M.namespace()
print('ns', ns[0].decode())
M.select('INBOX')
typ, d = M.uid('STORE', '1', '+FLAGS', '(\\Seen)')
print('store', typ)
typ, d = M.uid('MOVE', '2', 'Archive')
print('move', typ, M.response('COPYUID'))
msg = b'From: becker@bau-firma.test\r\nTo: kunde@kunde.test\r\nSubject: Entwurf vom Telefon\r\n\r\nHallo\r\n'
typ, d = M.append('Drafts', '(\\Draft)', None, msg)
print('append', typ, d[0].decode())
typ, d = M.uid('FETCH', '1:*', '(UID FLAGS)')
print('fetch', [x.decode() for x in d if x])
M.logout()
"#,
    )
    .await;
    let text = out.join("\n");
    assert!(out[0] == "refused", "{text}");
    assert!(text.contains("IDLE") && text.contains("MOVE") && text.contains("CONDSTORE"), "{text}");
    for attr in ["\\Sent", "\\Drafts", "\\Trash", "\\Archive"] {
        assert!(out.iter().any(|l| l.starts_with("list") && l.contains(attr)), "{attr}: {text}");
    }
    assert!(text.contains(r#"ns (("" "/")) NIL NIL"#), "{text}");
    assert!(text.contains("store OK") && text.contains("move OK") && text.contains("append OK [APPENDUID"), "{text}");
    until_server(Duration::from_secs(30), "\\Seen, the move and the draft reach Dovecot", || {
        let inbox = server_flags(&user, "INBOX");
        inbox.len() == 2
            && inbox.iter().any(|(_, f)| f.contains("\\Seen"))
            && server_flags(&user, "Archive").len() == 1
            && support::server_subjects(&user, "Drafts").iter().any(|s| s == "Entwurf vom Telefon")
    })
    .await;
    s.d.stop().await;
}

#[tokio::test]
async fn idle_sees_a_delivery_to_dovecot_and_a_revoked_token_is_ended_and_refused() {
    let (s, user, _pw, token) = setup("imapd-idle", 1).await;
    let mut script = imapd::Script::spawn(
        s.port,
        "becker",
        &token,
        r#"
M = login()
M.select('INBOX')
tag = M._new_tag()
M.send(tag + b' IDLE\r\n')
say(M.readline().decode().strip())
start = time.time()
while True:
    line = M.readline().decode().strip()
    if line.endswith('EXISTS'):
        say('exists', line, round(time.time() - start, 2))
        break
M.send(b'DONE\r\n')
while True:
    line = M.readline().decode().strip()
    if line.startswith(tag.decode()):
        say('done', line)
        break
say('waiting')
try:
    while True:
        line = M.readline().decode().strip()
        if not line:
            say('closed')
            break
        if line.startswith('* BYE'):
            say('bye', line)
            break
except Exception as e:
    say('closed', e)
"#,
    );
    assert!(script.line().await.starts_with('+'), "IDLE accepted");
    let sent = Instant::now();
    support::deliver(&user, &mail(9, "Neu per IDLE"));
    let exists = script.line().await;
    let took = sent.elapsed();
    assert!(exists.starts_with("exists * 2 EXISTS"), "{exists}");
    assert!(took < Duration::from_secs(2), "EXISTS after {took:?}");
    assert!(script.line().await.starts_with("done"));
    assert_eq!(script.line().await, "waiting");
    let id = s.d.app.store.devices().all().unwrap()[0].id;
    assert!(s.d.app.store.devices().revoke(id).unwrap());
    let bye = script.line().await;
    assert!(bye.starts_with("bye * BYE"), "{bye}");
    script.done().await;
    let out = python(
        s.port,
        "becker",
        &token,
        "",
        "M = connect()\ntry:\n    M.login(USER, TOKEN)\n    print('in')\nexcept imaplib.IMAP4.error as e:\n    print('refused')\n",
    )
    .await;
    assert_eq!(out, vec!["refused"]);
    s.d.stop().await;
}

#[tokio::test]
async fn condstore_then_qresync_after_changes_and_two_sessions_see_each_others_expunges() {
    let (s, user, _pw, token) = setup("imapd-qresync", 4).await;
    let out = python(
        s.port,
        "becker",
        &token,
        "",
        r#"
M = login()
typ, d = M._simple_command('SELECT', 'INBOX', '(CONDSTORE)')
M.state = 'SELECTED'
validity = M.response('UIDVALIDITY')[1][0].decode()
modseq = M.response('HIGHESTMODSEQ')[1][0].decode()
print('state', validity, modseq)
# A second session on the same folder.
B = login()
B.select('INBOX')
# A marks 2 deleted and expunges; B is in a FETCH meanwhile, then a NOOP.
M.store('2', '+FLAGS', '(\\Deleted)')
typ, d = M.expunge()
print('a-expunge', d)
typ, d = B.fetch('1:*', '(UID)')
print('b-fetch', [x.decode() for x in d if x], B.response('EXPUNGE'))
typ, d = B.noop()
print('b-noop', B.response('EXPUNGE'))
typ, d = B.fetch('1:*', '(UID)')
print('b-after', [x.decode() for x in d if x])
B.store('1', '+FLAGS', '(\\Flagged)')
B.logout()
M.logout()
# QRESYNC from the state before: VANISHED (EARLIER) and the changed flags.
Q = login()
print('enable', Q.enable('QRESYNC'))
typ, d = Q._simple_command('SELECT', 'INBOX', '(QRESYNC (%s %s))' % (validity, modseq))
print('vanished', Q.response('VANISHED'))
print('fetch', Q.response('FETCH'))
Q.logout()
"#,
    )
    .await;
    let text = out.join("\n");
    assert!(text.contains("a-expunge [b'2']"), "{text}");
    let b_fetch = out.iter().find(|l| l.starts_with("b-fetch")).unwrap();
    assert!(b_fetch.contains("(UID 1)") && b_fetch.contains("(UID 3)") && b_fetch.ends_with("[None])"), "{text}");
    assert!(text.contains("b-noop ('EXPUNGE', [b'2'])"), "{text}");
    let after = out.iter().find(|l| l.starts_with("b-after")).unwrap();
    assert!(after.contains("'1 (UID 1)'") && after.contains("'2 (UID 3)'") && after.contains("'3 (UID 4)'"), "{text}");
    assert!(text.contains("vanished ('VANISHED', [b'(EARLIER) 2'])"), "{text}");
    let fetch = out.iter().find(|l| l.starts_with("fetch")).unwrap();
    assert!(fetch.contains("UID 1") && fetch.contains("\\\\Flagged") && fetch.contains("MODSEQ"), "{text}");
    until_server(Duration::from_secs(30), "the expunge and the flag reach Dovecot", || {
        let f = server_flags(&user, "INBOX");
        f.len() == 3 && f.iter().any(|(_, fl)| fl.contains("\\Flagged"))
    })
    .await;
    s.d.stop().await;
}

#[tokio::test]
async fn a_granted_mailbox_is_under_shared_and_invisible_without_the_grant() {
    let (user, pw) = support::unique_user("imapd-own");
    let (info, info_pw) = support::unique_user("imapd-info");
    support::deliver(&info, &mail(1, "An alle"));
    let s = imapd::start(
        Builder::new()
            .mailbox(Mailbox::new("becker", &user, &pw).folders(FOLDERS))
            .mailbox(Mailbox::new("info", &info, &info_pw).kind("shared").folders(FOLDERS)),
    )
    .await;
    let store = s.d.app.store.clone();
    eventually(Duration::from_secs(30), "info's inbox is mirrored", || {
        let store = store.clone();
        async move { store.mailboxes().all("info").unwrap().iter().any(|m| m.total == 1) }
    })
    .await;
    let granted = s.d.device("becker", &["info"]);
    let plain = s.d.device("becker", &[]);
    let script = r#"
M = login()
typ, lst = M.list()
print('shared' if any(b'Shared/info/INBOX' in l for l in lst) else 'no shared')
typ, ns = M.namespace()
print('ns', ns[0].decode())
typ, d = M.select('Shared/info/INBOX')
print('select', typ, d)
if typ == 'OK':
    typ, d = M.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    print('subject', b'An alle' in d[0][1] if d and d[0] and isinstance(d[0], tuple) else d)
M.logout()
"#;
    let with = python(s.port, "becker", &granted, "", script).await;
    let without = python(s.port, "becker", &plain, "", script).await;
    assert_eq!(with[0], "shared", "{with:?}");
    assert!(with[1].contains(r#"(("Shared/" "/"))"#), "{with:?}");
    assert!(with[2].starts_with("select OK [b'1']"), "{with:?}");
    assert_eq!(without[0], "no shared", "{without:?}");
    assert!(without[2].starts_with("select NO"), "{without:?}");
    s.d.stop().await;
}

/// Needs the real renderer (branch `imapd-render`): the stand-in renders no BODYSTRUCTURE and
/// does not search text.
#[tokio::test]
async fn bodystructure_of_a_german_multipart_and_search_text_for_an_umlaut() {
    let (s, user, _pw, token) = setup("imapd-render", 1).await;
    support::deliver(&user, &german_multipart());
    let store = s.d.app.store.clone();
    eventually(Duration::from_secs(30), "the multipart is mirrored", || {
        let store = store.clone();
        async move { store.mailboxes().all("becker").unwrap().iter().any(|m| m.total == 2) }
    })
    .await;
    let out = python(
        s.port,
        "becker",
        &token,
        "",
        r#"
M = login()
M.select('INBOX')
typ, d = M.fetch('2', '(BODYSTRUCTURE)')
print('bs', d[0].decode() if isinstance(d[0], bytes) else d[0])
M.literal = 'Fußbodenheizung'.encode('utf-8')
typ, d = M.search('UTF-8', 'TEXT')
print('search', d)
M.logout()
"#,
    )
    .await;
    let text = out.join("\n");
    let bs = text.to_ascii_uppercase();
    assert!(
        bs.contains("\"MIXED\"") && bs.contains("\"APPLICATION\" \"PDF\"") && bs.contains("QUOTED-PRINTABLE"),
        "{text}"
    );
    assert!(text.contains("search [b'2']"), "{text}");
    s.d.stop().await;
}

/// How many messages with this Message-ID Dovecot holds in `folder` of `user`.
fn on_server(user: &str, folder: &str, message_id: &str) -> usize {
    doveadm(&["-f", "flow", "search", "-u", user, "mailbox", folder, "header", "Message-ID", message_id])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[tokio::test]
async fn a_phones_own_sent_copy_of_what_the_outbox_sends_leaves_one_copy_in_sent() {
    let (user, pw) = support::unique_user("imapd-sent");
    let s = imapd::start(
        Builder::new()
            .relay(&format!("send_while = \"session\"\nca_file = \"{}\"", support::ca_file().display()))
            .mailbox(Mailbox::new("becker", &user, &pw).folders(FOLDERS).transport("relay")),
    )
    .await;
    let app = s.d.app.clone();
    eventually(Duration::from_secs(30), "the Sent folder is mirrored", || {
        let app = app.clone();
        async move { app.store.mailboxes().all("becker").unwrap().iter().any(|m| m.role.as_deref() == Some("sent")) }
    })
    .await;
    let token = s.d.device("becker", &[]);
    let raw = |n: u32| {
        format!(
            "From: becker@bau-firma.test\r\nTo: kunde{n}-{}@kunde.test\r\nSubject: Vom Telefon {n}\r\n\
             Message-ID: <phone{n}.{}@bau-firma.test>\r\n\r\nGesendet vom Telefon\r\n",
            support::unique_token(),
            support::unique_token()
        )
    };
    let enqueue = |raw: &str| {
        let out = postbote::outbox::Outgoing {
            mailbox: "becker".into(),
            raw: raw.as_bytes().to_vec(),
            recipients: None,
            origin: postbote::outbox::Origin::Phone,
            discard_after: None,
        };
        postbote::outbox::enqueue(&app, out).unwrap()
    };
    let append = r#"
M = login()
typ, d = M.append('Sent', '(\\Seen)', None, EXTRA.encode())
print(typ, d[0].decode())
M.logout()
"#;
    // First order: the phone's APPEND while the closed gate still holds the message.
    let (held_raw, later_raw) = (raw(1), raw(2));
    let held = enqueue(&held_raw);
    let out = python(s.port, "becker", &token, &held_raw, append).await;
    assert!(out[0].starts_with("OK") && !out[0].contains("APPENDUID"), "{out:?}");
    postbote::outbox::session_login(&app, "anna", Some(Duration::from_secs(600))).unwrap();
    app.outbox_wake.notify_one();
    until_server(Duration::from_secs(60), "the outbox's Sent copy of the held message", || {
        on_server(&user, "Sent", &held.message_id) == 1
    })
    .await;

    // Second order: sent (gate open), its Sent copy mirrored, then the phone's APPEND.
    let later = enqueue(&later_raw);
    until_server(Duration::from_secs(60), "the outbox's Sent copy of the second message", || {
        on_server(&user, "Sent", &later.message_id) == 1
    })
    .await;
    let store = app.store.clone();
    let mid = later.message_id.clone();
    eventually(Duration::from_secs(30), "the Sent copy is mirrored", || {
        let (store, mid) = (store.clone(), mid.clone());
        // A write-back wake-up makes the mirror run a pass over every folder.
        app.wake_writeback("becker");
        async move { store.message_id_in_role("becker", "sent", &mid).unwrap() }
    })
    .await;
    let out = python(s.port, "becker", &token, &later_raw, append).await;
    assert!(out[0].starts_with("OK [APPENDUID"), "{out:?}");

    // Later passes bring nothing twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(on_server(&user, "Sent", &held.message_id), 1);
    assert_eq!(on_server(&user, "Sent", &later.message_id), 1);
    s.d.stop().await;
}

#[tokio::test]
async fn starttls_and_implicit_tls_present_the_phones_certificate() {
    let (user, pw) = support::unique_user("imapd-tls");
    support::deliver(&user, &mail(1, "Verschlüsselt"));
    let certs = support::stack_dir().join("certs");
    let tls_port = support::free_port();
    let s = imapd::start_with(
        Builder::new().mailbox(Mailbox::new("becker", &user, &pw).folders(FOLDERS)).section(&format!(
            "[phones]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            certs.join("cert.pem").display(),
            certs.join("key.pem").display()
        )),
        &format!("listen_tls = \"127.0.0.1:{tls_port}\""),
    )
    .await;
    let token = s.d.device("becker", &[]);
    let out = python(
        s.port,
        "becker",
        &token,
        &format!("{}|{tls_port}", support::ca_file().display()),
        r#"
import ssl
ca, tls_port = EXTRA.split('|')
ctx = ssl.create_default_context(cafile=ca)
M = connect()
print('before', 'STARTTLS' in M.capabilities, 'AUTH=PLAIN' in M.capabilities)
M.starttls(ssl_context=ctx)
M.login(USER, TOKEN)
print('starttls', M.select('INBOX')[0])
M.logout()
T = imaplib.IMAP4_SSL('localhost', int(tls_port), ssl_context=ctx)
T.login(USER, TOKEN)
print('implicit', T.select('INBOX')[0], 'STARTTLS' in T.capabilities)
T.logout()
"#,
    )
    .await;
    assert_eq!(out, vec!["before True True", "starttls OK", "implicit OK False"], "{out:?}");
    s.d.stop().await;
}

/// (folder id of INBOX, of Archive) of mailbox "becker".
fn inbox_and_archive(store: &postbote::store::Store) -> (i64, i64) {
    let all = store.mailboxes().all("becker").unwrap();
    let id = |role: &str| all.iter().find(|m| m.role.as_deref() == Some(role)).unwrap().id;
    (id("inbox"), id("archive"))
}

#[tokio::test]
async fn expunge_spares_a_deleted_message_another_device_moved_away_and_store_and_delete_answer_per_rfc() {
    let (s, _user, _pw, token) = setup("imapd-stale", 2).await;
    let store = s.d.app.store.clone();
    let (inbox, archive) = inbox_and_archive(&store);
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("moved");
    let script = format!(
        r#"
import os
M = login()
M.select('INBOX')
typ, d = M.store('1', '+FLAGS', '(\\Deleted)')
say('stored', typ)
while not os.path.exists({mark:?}):
    time.sleep(0.05)
typ, d = M.expunge()
say('expunge', typ, d)
typ, d = M.select('Archive')
say('archive', d[0].decode())
M.logout()
"#,
        mark = mark.display().to_string()
    );
    let mut phone = imapd::Script::spawn(s.port, "becker", &token, &script);
    assert_eq!(phone.line().await, "stored OK");
    // Another device (JMAP) moves that message to Archive meanwhile.
    let uid1 = store.imap_uids().live(inbox).unwrap()[0].message;
    let up = postbote::store::email_set::EmailUpdate {
        keywords: None,
        folder: Some(postbote::store::email_set::MailboxPatch::Replace(vec![archive])),
    };
    store.emails().set("becker", None, &[(uid1, up)], &[]).unwrap().unwrap();
    std::fs::write(&mark, b"").unwrap();
    let expunge = phone.line().await;
    // The message left INBOX, which the phone is told either way.
    assert_eq!(expunge, "expunge OK [b'1']");
    assert_eq!(phone.line().await, "archive 1", "the moved message is in Archive");
    phone.done().await;

    // Non-UID STORE under CONDSTORE answers with UID (RFC 7162 section 3.1); .SILENT echoes
    // nothing, neither in its own answer nor on the next NOOP.
    let out = python(
        s.port,
        "becker",
        &token,
        "",
        r#"
M = login()
M.enable('CONDSTORE')
M.select('INBOX')
typ, d = M.store('1', '+FLAGS', '(\\Flagged)')
print('condstore', typ, [x.decode() for x in d if x])
M.logout()
N = login()
N.select('INBOX')
typ, d = N.store('1', '+FLAGS.SILENT', '(\\Answered)')
print('silent', typ, d)
typ, d = N.noop()
print('noop', N.response('FETCH'))
# A refused DELETE of the selected folder leaves it selected.
typ, d = N.delete('INBOX')
print('delete', typ)
typ, d = N.fetch('1', '(UID)')
print('after-delete', typ)
# A MOVE into the folder the messages are in moves nothing and says so.
typ, d = N._simple_command('MOVE', '1', 'INBOX')
print('move-here', typ, N.response('NO'))
N.logout()
"#,
    )
    .await;
    let text = out.join("\n");
    let condstore = out.iter().find(|l| l.starts_with("condstore")).unwrap();
    assert!(
        condstore.starts_with("condstore OK") && condstore.contains("UID ") && condstore.contains("MODSEQ"),
        "{text}"
    );
    assert!(text.contains("silent OK [None]"), "{text}");
    assert!(text.contains("noop ('FETCH', [None])"), "{text}");
    assert!(text.contains("delete NO") && text.contains("after-delete OK"), "{text}");
    assert!(text.contains("move-here NO"), "{text}");
    s.d.stop().await;
}
