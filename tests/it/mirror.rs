//! The IMAP mirror against the real servers of the local stack (`scripts/stack up`): Dovecot
//! and Cyrus IMAP. The hosted server's software is unknown, so every test that does not need
//! a Dovecot-only facility runs on both: `on_both_servers!` makes `dovecot::NAME` and
//! `cyrus::NAME` from one body `async fn NAME(srv: Server)`. Dovecot-only: restarting the
//! server mid-sync (only the spare Dovecot can be restarted without cutting every other test's
//! sessions) and the config check (no server involved).
//!
//! Each test makes its own user and its own data directory and config, so the tests run in
//! parallel. Server-side changes (flags, expunges, folders) are made through [`Server`]
//! (doveadm for Dovecot, IMAP as the user for Cyrus), the way another mail client's changes
//! would reach the server. Nothing here sleeps to wait for a server: every wait polls for its
//! condition with a timeout.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use postbote::app::App;
use postbote::mirror;
use tokio_util::sync::CancellationToken;

// ------------------------------------------------------------------------------ the stack

use crate::support::{self, Server, jmapd, unique_user};

/// Makes `dovecot::NAME` and `cyrus::NAME` test functions from each `async fn NAME(srv: Server)`.
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod dovecot {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Server::Dovecot).await
                }
            )*
        }
        mod cyrus {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Server::Cyrus).await
                }
            )*
        }
    };
}

on_both_servers!(
    initial_sync_then_a_poll_finds_nothing_new,
    the_binary_syncs_and_reports_status,
    trace_logging_never_shows_the_password,
    flags_and_expunges_on_the_server_reach_the_store,
    a_recreated_folder_is_fetched_again_without_duplicates_and_a_deleted_one_goes,
    odd_messages_survive_byte_for_byte,
    a_20_mb_attachment,
    the_daemon_task_sees_new_mail_through_idle_and_stops_on_cancel,
    a_wrong_password_is_reported_and_not_retried_in_a_loop,
    without_qresync_or_condstore_flags_and_expunges_still_arrive,
    cancelling_a_long_sync_stops_after_a_committed_batch,
    a_folder_with_umlauts_is_mirrored_under_its_real_name,
    a_pending_rename_survives_a_folder_listing_taken_before_it_is_written_back,
);

// --------------------------------------------------------------------------- postbote side

struct Env {
    dir: tempfile::TempDir,
    app: App,
    user: String,
    config: PathBuf,
    srv: Server,
}

const ID: &str = "becker";

/// The mailbox "becker" on `user`, following `folders` (a TOML array).
fn mailbox(user: &str, pw: &str, folders: &str) -> jmapd::Mailbox {
    jmapd::Mailbox::new(ID, user, pw).default_kind().name("Hans Becker").login(user).folders(folders)
}

/// A data directory and config for `user` (password `pw`) on `srv`, mirroring `folders`
/// (TOML array).
fn env_for(srv: Server, user: &str, pw: &str, folders: &str) -> Env {
    env_on(srv, user, pw, folders, srv.imaps_port())
}

/// The same against the server listening for IMAPS on `port` (the spare Dovecot, say).
fn env_on(srv: Server, user: &str, pw: &str, folders: &str, port: u16) -> Env {
    let setup =
        jmapd::Builder::new().agent("batch_size = 200").imap_port(port).mailbox(mailbox(user, pw, folders)).open();
    Env { app: setup.app, dir: setup.dir, user: user.to_string(), config: setup.config, srv }
}

fn env(srv: Server, tag: &str) -> Env {
    let (user, pw) = unique_user(tag);
    env_for(srv, &user, &pw, r#"["INBOX", "\\Sent", "\\Archive"]"#)
}

impl Env {
    /// Sync once. A dropped connection (a busy machine, a stack restarted by hand) is retried
    /// a few times; everything else fails the test.
    async fn sync(&self) -> mirror::Report {
        let mut tries = 0;
        loop {
            match mirror::sync_once(&self.app, ID, false).await {
                Ok(r) => return r,
                Err(e) if tries < 5 && is_connection_trouble(&e.to_string()) => {
                    tries += 1;
                    wait_for_port(self.srv.imaps_port()).await;
                }
                Err(e) => panic!("sync failed: {e:#}"),
            }
        }
    }

    fn uids(&self, folder: &str) -> BTreeSet<u32> {
        let f = self.app.store.folders().by_name(ID, folder).unwrap().unwrap_or_else(|| panic!("no folder {folder}"));
        self.app.store.folders().uids(f.id).unwrap().into_iter().collect()
    }

    fn messages(&self, folder: &str) -> Vec<postbote::store::messages::MessageSummary> {
        self.app.store.messages().list(ID, Some(folder), 1_000_000).unwrap()
    }

    fn deliver(&self, folder: &str, raw: &[u8]) {
        self.srv.deliver(&self.user, folder, raw);
    }

    /// The UIDs the server holds in `folder`.
    fn server_uids(&self, folder: &str) -> BTreeSet<u32> {
        self.srv.uids(&self.user, folder)
    }

    fn binary(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_postbote"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

fn is_connection_trouble(e: &str) -> bool {
    [
        "closed the connection",
        "peer closed connection",
        "Connection refused",
        "Connection reset",
        "no answer",
        "Broken pipe",
        "cannot connect",
        "TLS with",
        "no greeting",
    ]
    .iter()
    .any(|s| e.contains(s))
}

async fn wait_for_port(port: u16) {
    tokio::task::spawn_blocking(move || support::wait_port(port)).await.unwrap();
}

/// Poll `cond` every 20 ms until it holds, failing the test after `limit`.
async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn mail(n: u32, subject: &str) -> Vec<u8> {
    format!(
        "From: Kunde {n} <kunde{n}@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <m{n}.{}@kunde.test>\r\n\r\nNachricht {n}\r\n",
        std::process::id()
    )
    .into_bytes()
}

// ------------------------------------------------------------------------------------ tests

async fn initial_sync_then_a_poll_finds_nothing_new(srv: Server) {
    let e = env(srv, "initial");
    srv.populate(&e.user, 120);
    e.deliver("Sent", &mail(1, "Angebot"));
    let r = e.sync().await;
    assert_eq!(r.new_messages(), 121, "{r}");
    assert_eq!(e.uids("INBOX"), e.server_uids("INBOX"));
    assert_eq!(e.uids("Sent"), e.server_uids("Sent"));
    let sent = e.app.store.folders().by_name(ID, "Sent").unwrap().unwrap();
    assert_eq!(sent.role.as_deref(), Some("sent"), "found by its SPECIAL-USE role");
    assert!(e.app.store.folders().by_name(ID, "Archive").unwrap().is_some());

    let before = e.app.store.account_state(ID).unwrap().unwrap().0;
    let r = e.sync().await;
    assert_eq!(r.new_messages(), 0, "{r}");
    assert!(r.to_string().starts_with("nothing new"), "{r}");
    assert_eq!(
        e.app.store.account_state(ID).unwrap().unwrap().0,
        before,
        "a poll with nothing new changes nothing a device sees"
    );
    let ids: BTreeSet<_> = e.messages("INBOX").into_iter().map(|m| m.message_id).collect();
    assert_eq!(ids.len(), 120, "every message once");
}

async fn the_binary_syncs_and_reports_status(srv: Server) {
    let e = env(srv, "binary");
    e.deliver("INBOX", &mail(1, "Rückruf erbeten"));
    e.deliver("INBOX", &mail(2, "Termin"));
    let out = e.binary(&["sync", "--once"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("INBOX: 2 new"), "{stdout}");
    let out = e.binary(&["status", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mb = &v["mailboxes"][0];
    assert!(mb["sync"]["last_sync_at"].is_i64(), "{mb}");
    assert!(mb["sync"]["last_error"].is_null(), "{mb}");
    let inbox = mb["folders"].as_array().unwrap().iter().find(|f| f["folder"] == "INBOX").unwrap();
    assert_eq!(inbox["total"], 2);
    assert_eq!(inbox["unread"], 2);
}

/// The owner's rule, checked on the real binary: even with every log level at trace, neither the
/// IMAP password nor its base64 forms (as in AUTHENTICATE PLAIN) reach the log.
async fn trace_logging_never_shows_the_password(srv: Server) {
    use base64::Engine;
    let (user, pw) = unique_user("tracelog");
    let e = env_for(srv, &user, &pw, r#"["INBOX"]"#);
    e.deliver("INBOX", &mail(1, "Zugangsdaten?"));
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(&e.config)
        .args(["-vv", "sync", "--once"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("DEBUG") && log.contains("session ready"), "the log was not verbose: {log}");
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in [pw.clone(), b64.encode(&pw), b64.encode(format!("\0{user}\0{pw}"))] {
        assert!(!log.contains(&secret), "the log shows a form of the password: {secret}");
    }
}

async fn flags_and_expunges_on_the_server_reach_the_store(srv: Server) {
    let e = env(srv, "flags");
    for n in 1..=3 {
        e.deliver("INBOX", &mail(n, &format!("m{n}")));
    }
    e.sync().await;
    let uids: Vec<u32> = e.server_uids("INBOX").into_iter().collect();
    srv.add_flags(&e.user, "INBOX", &uids[0].to_string(), "\\Flagged \\Seen");
    let r = e.sync().await;
    assert_eq!(r.folders[0].flags, 1, "{r}");
    let m = e.messages("INBOX").into_iter().find(|m| m.uid == Some(uids[0])).unwrap();
    assert_eq!(m.keywords, vec!["$flagged", "$seen"]);

    srv.remove_flags(&e.user, "INBOX", &uids[0].to_string(), "\\Seen");
    srv.expunge(&e.user, "INBOX", &uids[1].to_string());
    let r = e.sync().await;
    assert_eq!(r.folders[0].expunged, 1, "{r}");
    assert_eq!(e.uids("INBOX"), [uids[0], uids[2]].into_iter().collect());
    let m = e.messages("INBOX").into_iter().find(|m| m.uid == Some(uids[0])).unwrap();
    assert_eq!(m.keywords, vec!["$flagged"]);
}

async fn a_recreated_folder_is_fetched_again_without_duplicates_and_a_deleted_one_goes(srv: Server) {
    let (user, pw) = unique_user("uidvalidity");
    srv.deliver(&user, "Projekte", &mail(1, "Plan"));
    let e = env_for(srv, &user, &pw, r#"["INBOX", "\\Archive", "Projekte"]"#);
    for n in 1..=3 {
        e.deliver("Archive", &mail(10 + n, "alt"));
    }
    e.sync().await;
    assert_eq!(e.messages("Archive").len(), 3);
    assert_eq!(e.messages("Projekte").len(), 1);
    let old_validity = srv.uidvalidity(&user, "Archive");

    srv.delete(&user, "Archive");
    srv.create(&user, "Archive", Some("\\Archive"));
    e.deliver("Archive", &mail(21, "neu"));
    e.deliver("Archive", &mail(22, "neu"));
    assert_ne!(srv.uidvalidity(&user, "Archive"), old_validity, "the test needs a new UIDVALIDITY");
    srv.delete(&user, "Projekte");

    let r = e.sync().await;
    let archive = r.folders.iter().find(|f| f.name == "Archive").unwrap();
    assert!(archive.reset, "{r}");
    let subjects: Vec<String> = e.messages("Archive").into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, vec!["neu", "neu"], "old copies gone, new ones once");
    assert_eq!(e.uids("Archive"), e.server_uids("Archive"));
    let f = e.app.store.folders().by_name(ID, "Archive").unwrap().unwrap();
    assert_eq!(f.uidvalidity, Some(srv.uidvalidity(&user, "Archive")));
    assert!(e.app.store.folders().by_name(ID, "Projekte").unwrap().is_none(), "a folder gone on the server is removed");
    assert!(e.app.store.messages().list(ID, None, 100).unwrap().iter().all(|m| m.folder != "Projekte"));

    let r = e.sync().await;
    assert_eq!(r.new_messages(), 0, "{r}");
    assert_eq!(e.messages("Archive").len(), 2);
}

async fn odd_messages_survive_byte_for_byte(srv: Server) {
    let e = env(srv, "odd");
    let rfc2047 = b"From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <mueller@kunde.test>\r\n\
To: becker@bau-firma.test\r\n\
Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Badsanierung_=E2=80=93_M=C3=BCller?=\r\n\
Date: Mon, 2 Nov 2026 09:15:00 +0100\r\n\
Message-ID: <rfc2047@kunde.test>\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n\
Gr\xfc\xdfe aus K\xf6ln, bitte um R\xfcckruf.\r\n"
        .to_vec();
    let latin1 =
        b"From: Kunde <k@kunde.test>\r\nSubject: Pr\xfcfung der Rechnung\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <latin1@kunde.test>\r\n\r\nbitte pr\xfcfen\r\n"
            .to_vec();
    let malformed = b"\x00\x01garbage without any header\r\n\r\n\xff\xfe more".to_vec();
    // Cyrus refuses the malformed message at APPEND ("NO Message contains NUL characters";
    // without the NUL, "NO Message contains invalid header"): no Cyrus mailbox can hold it.
    let samples = if srv == Server::Cyrus { vec![&rfc2047, &latin1] } else { vec![&rfc2047, &latin1, &malformed] };
    let n = samples.len();
    for raw in samples {
        e.deliver("INBOX", raw);
    }
    let r = e.sync().await;
    assert_eq!(r.new_messages(), n, "{r}");
    let list = e.messages("INBOX");
    let by_id = |id: &str| list.iter().find(|m| m.message_id.as_deref() == Some(id)).unwrap().clone();
    let m = by_id("rfc2047@kunde.test");
    assert_eq!(m.subject, "Angebot für Badsanierung – Müller");
    assert_eq!(m.from[0].name.as_deref(), Some("Jürgen Müller"));
    assert_eq!(e.app.store.messages().raw(m.id).unwrap().unwrap(), rfc2047);
    let m = by_id("latin1@kunde.test");
    assert_eq!(m.subject, "Prüfung der Rechnung");
    assert_eq!(e.app.store.messages().raw(m.id).unwrap().unwrap(), latin1);
    if srv == Server::Cyrus {
        return;
    }
    let bad = list.iter().find(|m| m.message_id.is_none()).expect("the malformed message is kept");
    assert!(bad.parse_error.is_some(), "and flagged");
    let raw = e.app.store.messages().raw(bad.id).unwrap().unwrap();
    // Dovecot stores what it is given, apart from line endings it may normalise.
    assert_eq!(raw.iter().filter(|b| **b != b'\r').count(), malformed.iter().filter(|b| **b != b'\r').count());
}

async fn a_20_mb_attachment(srv: Server) {
    let e = env(srv, "large");
    use base64::Engine;
    let mut data = vec![0u8; 15 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
    let mut raw = b"From: Architekt <a@arch.test>\r\nTo: becker@bau-firma.test\r\nSubject: Pl\xc3\xa4ne\r\n\
Message-ID: <large@arch.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei die Pl\xc3\xa4ne.\r\n\
--b\r\nContent-Type: application/pdf; name=\"plaene.pdf\"\r\nContent-Disposition: attachment; filename=\"plaene.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    for line in b64.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--b--\r\n");
    assert!(raw.len() > 20_000_000);
    e.deliver("INBOX", &raw);
    e.deliver("INBOX", &mail(2, "klein"));
    let r = e.sync().await;
    assert_eq!(r.new_messages(), 2, "{r}");
    let m = e.messages("INBOX").into_iter().find(|m| m.message_id.as_deref() == Some("large@arch.test")).unwrap();
    assert!(m.has_attachment);
    assert_eq!(m.size as usize, raw.len());
    assert!(e.app.store.messages().raw(m.id).unwrap().unwrap() == raw, "the raw bytes are what was delivered");
}

async fn the_daemon_task_sees_new_mail_through_idle_and_stops_on_cancel(srv: Server) {
    let e = env(srv, "idle");
    e.deliver("INBOX", &mail(1, "vorher"));
    let token = CancellationToken::new();
    let task = tokio::spawn(mirror::run(e.app.clone(), ID.into(), token.clone()));
    let store = e.app.store.clone();
    eventually(Duration::from_secs(30), "the first pass", || {
        store.sync_state().status(ID).unwrap().last_sync_at.is_some()
    })
    .await;
    assert_eq!(e.messages("INBOX").len(), 1);

    // The poll schedule runs every 2 minutes: only IDLE can bring the message in this quickly.
    let mut changes = e.app.store.subscribe();
    let t0 = Instant::now();
    e.deliver("INBOX", &mail(2, "per IDLE"));
    let deadline = Duration::from_secs(20);
    loop {
        if e.messages("INBOX").len() == 2 {
            break;
        }
        match tokio::time::timeout(deadline.saturating_sub(t0.elapsed()), changes.recv()).await {
            Ok(_) => {}
            Err(_) => panic!("the new message did not arrive within {deadline:?}"),
        }
    }
    eprintln!("new mail in the store {} ms after delivery", t0.elapsed().as_millis());

    token.cancel();
    let r = tokio::time::timeout(Duration::from_secs(10), task).await.expect("run returns promptly on cancellation");
    r.unwrap().unwrap();
}

async fn a_wrong_password_is_reported_and_not_retried_in_a_loop(srv: Server) {
    let (user, _) = unique_user("wrongpw");
    let e = env_for(srv, &user, "not-the-password", r#"["INBOX"]"#);
    let out = e.binary(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(2), "a failed sync exits non-zero");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("refused the login") && stdout.contains(&user), "{stdout}");
    assert!(!stdout.contains("not-the-password"));
    let out = e.binary(&["status"]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("login refused"), "{status}");
    assert!(!status.contains("not-the-password"));

    // The daemon task: one attempt, then it waits (minutes), it does not spin. Dovecot logs
    // each refused login, so they are counted; Cyrus logs only to syslog, which the stack
    // does not run, so there the refusal the task records must not be recorded again.
    let attempts = || srv.refused_logins(&user);
    if attempts().is_some() {
        // The binary's attempt is logged when its connection closes: let it land first.
        eventually(Duration::from_secs(10), "the binary's attempt in the server's log", || {
            attempts().unwrap_or(0) >= 1
        })
        .await;
    }
    let before = attempts();
    // The binary's own refusal: Cyrus answers a refused LOGIN only after 3 s
    // (failedloginpause), so the task's refusal is recorded at a later second than this.
    let binary_refusal = e.app.store.sync_state().status(ID).unwrap().last_error_at;
    let token = CancellationToken::new();
    let task = tokio::spawn(mirror::run(e.app.clone(), ID.into(), token.clone()));
    let store = e.app.store.clone();
    eventually(Duration::from_secs(30), "the refusal recorded by the task", || {
        store.sync_state().status(ID).unwrap().last_error_at.is_some_and(|t| t >= postbote::store::now() - 1)
            && match before {
                Some(b) => attempts().unwrap_or(0) > b,
                None => store.sync_state().status(ID).unwrap().last_error_at > binary_refusal,
            }
    })
    .await;
    let t0 = Instant::now();
    let first_refusal = store.sync_state().status(ID).unwrap().last_error_at;
    // Watch a few more seconds: a spinning task would log in again and again.
    while t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match before {
        Some(b) => assert_eq!(attempts().unwrap_or(0) - b, 1, "exactly one login attempt in 5 seconds"),
        None => assert_eq!(
            store.sync_state().status(ID).unwrap().last_error_at,
            first_refusal,
            "no second refusal recorded in 5 seconds"
        ),
    }
    let st = store.sync_state().status(ID).unwrap();
    assert!(st.auth_failed);
    assert!(!task.is_finished(), "the task waits; it does not crash");
    token.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap().unwrap();
}

#[test]
fn a_broken_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = jmapd::Builder::new()
        .agent("batch_size = 200")
        .imap_port(99_999u32)
        .mailbox(mailbox("x@handwerk.test", "x", r#"["INBOX"]"#))
        .write(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(&cfg)
        .args(["sync", "--once"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("imap.port") && stderr.contains("99999"), "{stderr}");
}

/// Dovecot restarted in the middle of a long first sync, as a service manager restarts it
/// (every session ends with "BYE Server shutting down"): the daemon's own task for the mailbox
/// reconnects with backoff and finishes the mirror by itself, nothing missing and nothing
/// twice. It is the stack's spare Dovecot (same users and mail, IMAPS on 11993) that restarts,
/// so no test running in parallel loses its server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_restarted_mid_sync_resumes_without_duplicates_or_gaps() {
    support::spare_dovecot("start");
    let (user, pw) = unique_user("restart");
    Server::Dovecot.populate(&user, 3000);
    let want = Server::Dovecot.uids(&user, "INBOX");
    assert_eq!(want.len(), 3000);
    let e = env_on(Server::Dovecot, &user, &pw, r#"["INBOX", "\\Sent", "\\Archive"]"#, support::SPARE_IMAPS);

    let token = CancellationToken::new();
    let task = tokio::spawn(mirror::run(e.app.clone(), ID.to_string(), token.clone()));
    let store = e.app.store.clone();
    let inbox_count = move || store.messages().list(ID, Some("INBOX"), 5000).map(|l| l.len()).unwrap_or(0);
    eventually(Duration::from_secs(60), "the first batches committed", || inbox_count() >= 200).await;
    tokio::task::spawn_blocking(|| support::spare_dovecot("restart")).await.unwrap();
    let at_restart = inbox_count();
    eprintln!("Dovecot restarted with {at_restart} of 3000 messages in");
    assert!(at_restart < 3000, "the restart came after the sync had finished: it tests nothing");
    // The task saw its session end (the error stays recorded until a pass completes; the
    // retry waits at least a second).
    let store = e.app.store.clone();
    eventually(Duration::from_secs(10), "the task to notice the restart", || {
        store.sync_state().status(ID).map(|s| s.last_error.is_some()).unwrap_or(false)
    })
    .await;

    eventually(Duration::from_secs(120), "the daemon task to finish the mirror after the restart", || {
        inbox_count() == 3000
    })
    .await;
    token.cancel();
    tokio::time::timeout(Duration::from_secs(30), task).await.expect("the task stops").unwrap().unwrap();
    assert_eq!(e.uids("INBOX"), want, "nothing missing, nothing extra");
    let ids: BTreeSet<Option<String>> = e.messages("INBOX").into_iter().map(|m| m.message_id).collect();
    assert_eq!(ids.len(), 3000, "no duplicates");
    let _ = &e.dir;
}

/// Servers without QRESYNC (or without CONDSTORE at all) are mirrored by the fallbacks: a
/// CHANGEDSINCE fetch plus a UID diff, or a full flag fetch. Dovecot offers both extensions, so
/// the test tells the mirror to act as if it did not.
async fn without_qresync_or_condstore_flags_and_expunges_still_arrive(srv: Server) {
    use postbote::mirror::plan::Caps;
    use postbote::mirror::{Mirror, PassOptions};
    for caps in [Caps { condstore: true, qresync: false }, Caps { condstore: false, qresync: false }] {
        let e = env(srv, "fallback");
        for n in 1..=4 {
            e.deliver("INBOX", &mail(n, &format!("m{n}")));
        }
        let mb = e.app.config.mailbox(ID).unwrap().clone();
        let mut s = postbote::imap::connect(&e.app.config, &mb).await.unwrap();
        let mut m = Mirror::start(&e.app, &mb, &mut s).await.unwrap();
        m.caps = caps;
        let r = m.pass(&mut s, PassOptions::default()).await.unwrap();
        assert_eq!(r.new_messages(), 4, "{caps:?}: {r}");

        let uids: Vec<u32> = e.server_uids("INBOX").into_iter().collect();
        srv.add_flags(&e.user, "INBOX", &uids[3].to_string(), "\\Answered");
        srv.expunge(&e.user, "INBOX", &format!("{}:{}", uids[0], uids[1]));
        e.deliver("INBOX", &mail(5, "m5"));
        let r = m.pass(&mut s, PassOptions::default()).await.unwrap();
        let inbox = &r.folders[0];
        assert_eq!((inbox.new, inbox.flags, inbox.expunged), (1, 1, 2), "{caps:?}: {r}");
        assert_eq!(e.uids("INBOX"), e.server_uids("INBOX"), "{caps:?}");
        let m4 = e.messages("INBOX").into_iter().find(|m| m.uid == Some(uids[3])).unwrap();
        assert_eq!(m4.keywords, vec!["$answered"], "{caps:?}");

        let r = m.pass(&mut s, PassOptions::default()).await.unwrap();
        assert_eq!(r.new_messages() + r.folders[0].flags + r.folders[0].expunged, 0, "{caps:?}: {r}");
    }
}

/// Shutdown during a long initial sync: the task returns promptly, after a batch committed,
/// and what the store records as done (UIDNEXT) is exactly what it holds.
async fn cancelling_a_long_sync_stops_after_a_committed_batch(srv: Server) {
    let e = env(srv, "cancel");
    srv.populate(&e.user, 3000);
    let token = CancellationToken::new();
    let task = tokio::spawn(mirror::run(e.app.clone(), ID.into(), token.clone()));
    let store = e.app.store.clone();
    eventually(Duration::from_secs(60), "the first batches committed", || {
        store.messages().list(ID, Some("INBOX"), 5000).map(|l| l.len()).unwrap_or(0) >= 200
    })
    .await;
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("run returns promptly").unwrap().unwrap();
    let held = e.uids("INBOX");
    let f = e.app.store.folders().by_name(ID, "INBOX").unwrap().unwrap();
    let uidnext = f.uidnext.expect("a committed batch records UIDNEXT");
    let server = e.server_uids("INBOX");
    let below: BTreeSet<u32> = server.iter().copied().filter(|u| *u < uidnext).collect();
    assert_eq!(held, below, "the store holds exactly the server's messages below the recorded UIDNEXT");
    assert!(held.len() < 3000, "cancelled before the end (held {})", held.len());
}

/// A folder named with umlauts (modified UTF-7 on the wire) is found by its name as people
/// write it and stored under that name.
async fn a_folder_with_umlauts_is_mirrored_under_its_real_name(srv: Server) {
    let (user, pw) = unique_user("umlaut");
    srv.deliver(&user, "Angebote/Bäder & Küchen", &mail(1, "Angebot Bad"));
    let e = env_for(srv, &user, &pw, r#"["INBOX", "Angebote/Bäder & Küchen"]"#);
    let r = e.sync().await;
    assert_eq!(r.new_messages(), 1, "{r}");
    let list = e.messages("Angebote/Bäder & Küchen");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].subject, "Angebot Bad");
    assert_eq!(e.sync().await.new_messages(), 0);
}

/// A phone renamed a folder that has a subfolder, and the RENAME still waits in the write-back
/// queue when a new session lists the server's folders (the server still shows the old
/// names). The store keeps both folders under their new names, with their ids and mail, and
/// makes no second copy of the old ones; once the rename is written back the lists agree.
async fn a_pending_rename_survives_a_folder_listing_taken_before_it_is_written_back(srv: Server) {
    use postbote::mirror::{Mirror, PassOptions};
    let (user, pw) = unique_user("pendren");
    srv.create(&user, "Kunden", None);
    srv.create(&user, "Kunden/Meier", None);
    srv.deliver(&user, "Kunden/Meier", &mail(1, "Angebot Meier"));
    let e = env_for(srv, &user, &pw, r#"["INBOX", "Kunden", "Kunden/Meier"]"#);
    e.sync().await;
    let parent = e.app.store.folders().by_name(ID, "Kunden").unwrap().unwrap().id;
    let child = e.app.store.folders().by_name(ID, "Kunden/Meier").unwrap().unwrap().id;
    assert_eq!(e.messages("Kunden/Meier").len(), 1);
    let names = |e: &Env| {
        let mut v: Vec<(String, i64)> =
            e.app.store.folders().all(ID).unwrap().into_iter().map(|f| (f.name, f.id)).collect();
        v.sort();
        v
    };

    // The phone renames the parent (store + queue, no IMAP yet).
    e.app.store.mailboxes().rename(ID, parent, "Firma").unwrap().unwrap();
    let mb = e.app.config.mailbox(ID).unwrap().clone();
    let mut s = postbote::imap::connect(&e.app.config, &mb).await.unwrap();
    let mut m = Mirror::start(&e.app, &mb, &mut s).await.unwrap();
    m.pass(&mut s, PassOptions::default()).await.unwrap();
    let inbox = e.app.store.folders().by_name(ID, "INBOX").unwrap().unwrap().id;
    let want = vec![("Firma".to_string(), parent), ("Firma/Meier".to_string(), child), ("INBOX".to_string(), inbox)];
    assert_eq!(names(&e), want, "no folder dropped, none duplicated under the old names");
    assert_eq!(e.messages("Firma/Meier").len(), 1, "the mail below the renamed folder stays");

    // Written back: the server has the new names, and a new listing keeps everything.
    postbote::mirror::writeback::drain(&e.app, ID, &mut s).await.unwrap();
    m.discover(&mut s).await.unwrap();
    m.pass(&mut s, PassOptions::default()).await.unwrap();
    assert_eq!(e.server_uids("Firma/Meier").len(), 1);
    assert_eq!(names(&e), want);
    assert_eq!(e.messages("Firma/Meier").len(), 1);
    let _ = &e.dir;
}

/// When a batch's store transaction fails while the batch after it is already handed over,
/// the pass ends with the store's error (`SyncError::Store`: the task ends and the daemon
/// restarts it), not with the follower's "the batch before this one was not stored", which
/// would only reconnect and lose the store's real error. Three batches of 200 are needed: the
/// failure is seen when the third is handed over, with the second still in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_with_a_batch_behind_it_ends_the_pass_with_the_store_error() {
    let srv = Server::Dovecot;
    let e = env(srv, "storefail");
    srv.populate(&e.user, 700);
    let raw = rusqlite::Connection::open(e.app.config.store_path()).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER review_boom BEFORE INSERT ON message WHEN NEW.uid IS NOT NULL
         BEGIN SELECT RAISE(ABORT, 'review boom'); END;",
    )
    .unwrap();
    drop(raw);
    let err = mirror::sync_once(&e.app, ID, false).await.expect_err("the store refuses every message");
    let sync = err.downcast_ref::<mirror::SyncError>().expect("a SyncError");
    assert!(
        matches!(sync, mirror::SyncError::Store(_)),
        "the store's error should end the pass, got {sync:?} ({err:#})"
    );
}
