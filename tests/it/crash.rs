//! What hostile input and hard kills must never do, against the real stack.
//!
//! Hostile mail: messages whose safety headers carry a raw Latin-1 byte are delivered through
//! Postfix to Dovecot, mirrored and decided by the running daemon; each must be skipped for
//! its reason and nothing may reach the Postfix capture for its sender.
//!
//! Kills: the `postbote` binary is killed with SIGKILL ten times at points a seeded RNG picks
//! (`POSTBOTE_CRASH_SEED`, fixed by default so CI repeats itself), during a mirror of 3,000
//! messages and during an outbox drain of 200 messages; then a clean run finishes the work.
//! Each test prints one line with its lost, duplicate and unknown counts and asserts that
//! nothing is lost or duplicated. A kill point is a progress mark (messages stored or sent)
//! plus a random delay, so kills land inside batches and SMTP sessions, not only between them.
//! Waiting is always polling for a condition with a deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postbote::app::App;
use postbote::config::Config;
use postbote::outbox::{self, Origin, Outgoing, State};
use postbote::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::{self, BECKER_SMTP, ca_file, capture_dir, smtp_send, unique_token, unique_user};

/// The default seed; `POSTBOTE_CRASH_SEED` picks another.
const DEFAULT_SEED: u64 = 20_261_204;
const KILLS: usize = 10;

fn seed() -> u64 {
    match std::env::var("POSTBOTE_CRASH_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("POSTBOTE_CRASH_SEED \"{s}\" is not a number")),
        Err(_) => DEFAULT_SEED,
    }
}

async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config for one mailbox on fresh Dovecot users, sending directly through Postfix
/// submission with the mailbox's own login.
fn write_config(dir: &Path, hosted: &str, imap_pw: &str, smtp_login: &str, smtp_pw: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("imap.pw"), format!("{imap_pw}\n")).unwrap();
    std::fs::write(dir.join("smtp.pw"), format!("{smtp_pw}\n")).unwrap();
    let text = format!(
        r#"
[agent]
data_dir = "{d}/data"
time_zone = "Europe/Berlin"
batch_size = 200
[imap]
host = "127.0.0.1"
port = 10993
tls = "implicit"
ca_file = "{ca}"
[direct]
host = "localhost"
port = 10587
tls = "starttls"
ca_file = "{ca}"
send_while = "always"
[outbox]
retry_schedule = ["1s"]
[control]
listen = "unix:{d}/control.sock"
[jmap]
enabled = false
[[mailbox]]
id = "becker"
name = "Hans Becker"
addresses = ["{smtp_login}"]
hosted_address = "{hosted}"
password_file = "{d}/imap.pw"
transport = "direct"
folders = ["INBOX"]
[mailbox.smtp]
login = "{smtp_login}"
password_file = "{d}/smtp.pw"
{extra}"#,
        d = dir.display(),
        ca = ca_file().display(),
    );
    let path = dir.join("postbote.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn app_for(path: &Path) -> App {
    postbote::tls::install_provider();
    let cfg = Config::load(path).unwrap();
    let store = Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
    App::new(Arc::new(cfg), store)
}

fn spawn(config: &Path, args: &[&str], log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// `n` kill marks between `lo` and `hi`, ascending, each with a delay of up to `max_delay_ms`
/// after the mark is reached.
fn kill_points(rng: &mut StdRng, n: usize, lo: usize, hi: usize, max_delay_ms: u64) -> Vec<(usize, u64)> {
    let mut marks: Vec<usize> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    marks.sort();
    marks.into_iter().map(|m| (m, rng.random_range(0..=max_delay_ms))).collect()
}

/// Wait until `progress()` reaches `mark`, then `delay_ms`, then SIGKILL `child`. Returns false
/// when the child finished by itself first (nothing left to interrupt).
async fn kill_at(child: &mut Child, mark: usize, delay_ms: u64, progress: impl Fn() -> usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress() < mark {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "no progress to {mark} within a minute");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    running
}

// ------------------------------------------------------------------------------ hostile mail

/// Raw 8-bit safety headers, delivered through Postfix to Dovecot and mirrored by the daemon:
/// each is decided as a skip for its own reason, no reply is queued and nothing reaches the
/// Postfix capture for its sender, while an ASCII customer right after them gets a reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latin1_safety_headers_are_skipped_end_to_end_and_nothing_is_sent() {
    let id = unique_token().replace('.', "-");
    let (hosted, password) = unique_user("hostile");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &hosted, &password, BECKER_SMTP.address, BECKER_SMTP.password, "");
    let app = app_for(&path);
    let now = chrono::Utc::now();
    let leave = postbote::autoreply::Settings {
        is_enabled: true,
        from_date: Some(now - chrono::Duration::hours(1)),
        to_date: Some(now + chrono::Duration::days(2)),
        ..Default::default()
    };
    postbote::autoreply::save_settings(&app, "becker", &leave).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(postbote::daemon::run(app.clone(), async move {
        let _ = stopped.await;
    }));
    wait_for("the first sync and the responder's cursor", Duration::from_secs(60), || {
        let synced = app.store.sync_state().status("becker").unwrap().last_sync_at.is_some();
        (synced && app.store.autoreply().cursor("becker").unwrap().is_some()).then_some(())
    })
    .await;

    // 31 Received headers naming München in Latin-1 (one raw byte 0xFC each).
    let received: Vec<u8> = (0..31)
        .flat_map(|i| [format!("Received: from relay{i}.m").into_bytes(), b"\xfcnchen.test\r\n".to_vec()].concat())
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "autosub",
            b"Auto-Submitted: auto-replied (Abwesenheit f\xfcr Herrn M\xfcller)\r\n".to_vec(),
            "auto_submitted",
        ),
        ("listid", b"List-Id: Rundbrief f\xfcr Kunden <rundbrief.kunde.test>\r\n".to_vec(), "list_header"),
        ("spam", b"X-Spam-Status: Yes, score=14.2 tests=GR\xdcSSE\r\n".to_vec(), "spam"),
        ("loop", received, "loop_suspected"),
    ];
    let date = chrono::Utc::now().to_rfc2822();
    for (tag, header, _) in &cases {
        let sender = format!("{tag}-{id}@kunde.test");
        let mut raw = header.clone();
        raw.extend_from_slice(
            format!(
                "From: Kunde <{sender}>\r\nTo: Hans Becker <{}>\r\nSubject: Hostile {tag} {id}\r\n\
                 Message-ID: <{tag}-{id}@kunde.test>\r\nDate: {date}\r\n\r\nGuten Tag.\r\n",
                BECKER_SMTP.address
            )
            .as_bytes(),
        );
        smtp_send(&sender, &[&hosted], &raw);
    }
    let customer = format!("kunde-{id}@kunde.test");
    let plain = format!(
        "From: Kunde <{customer}>\r\nTo: Hans Becker <{}>\r\nSubject: Plain {id}\r\n\
         Message-ID: <plain-{id}@kunde.test>\r\nDate: {date}\r\n\r\nGuten Tag.\r\n",
        BECKER_SMTP.address
    );
    smtp_send(&customer, &[&hosted], plain.as_bytes());

    let decision =
        |subject: &str| app.store.autoreply().recent("becker", 50).unwrap().into_iter().find(|d| d.subject == subject);
    // The ASCII customer is answered and the reply reaches Postfix: the whole path works.
    let row =
        wait_for("the plain message's decision", Duration::from_secs(90), || decision(&format!("Plain {id}"))).await;
    assert_eq!(row.reason, "reply", "{row:?}");
    let c = customer.clone();
    let got =
        tokio::task::spawn_blocking(move || support::wait_captured(&c, 1, Duration::from_secs(60))).await.unwrap();
    assert_eq!(got.len(), 1, "the plain customer got one reply");
    for (tag, _, reason) in &cases {
        let subject = format!("Hostile {tag} {id}");
        let row = wait_for(&format!("the decision on {subject}"), Duration::from_secs(60), || decision(&subject)).await;
        eprintln!("hostile {tag}: decided {} ({})", row.reason, row.detail);
        assert_eq!(row.reason, *reason, "{tag}: {row:?}");
        assert!(row.reply_state.is_none(), "{tag}: a reply was queued: {row:?}");
        let sender = format!("{tag}-{id}@kunde.test");
        assert!(support::captured_for(&sender).is_empty(), "{tag}: a reply reached Postfix");
    }
    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}

// ------------------------------------------------------------------------------ the mirror

/// Ten SIGKILLs at seeded random points while `postbote sync --once` mirrors 3,000 messages,
/// then a clean sync: every message on Dovecot is in the store exactly once. The points lie in
/// the first half and at most 0.1 s after their mark, so each lands while the mirror still runs
/// (it takes in hundreds of messages in 0.1 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_kills_during_a_mirror_of_3000_messages_lose_and_duplicate_nothing() {
    let seed = seed();
    eprintln!("crash seed {seed} (set POSTBOTE_CRASH_SEED to vary it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let n = 3000;
    let (hosted, password) = unique_user("crashmirror");
    support::stack(&["populate", &hosted, &n.to_string(), "2000"], None);
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &hosted, &password, "becker@bau-firma.test", "unused", "");
    let app = app_for(&path);
    let stored = || {
        app.store
            .folders()
            .by_name("becker", "INBOX")
            .unwrap()
            .map(|f| app.store.folders().uids(f.id).unwrap().len())
            .unwrap_or(0)
    };
    let mut kills = 0;
    for (i, (mark, delay)) in kill_points(&mut rng, KILLS, 1, n / 2, 100).into_iter().enumerate() {
        let mut child = spawn(&path, &["sync", "--once", "--quiet"], &dir.path().join(format!("sync{i}.log")));
        if kill_at(&mut child, mark, delay, stored).await {
            kills += 1;
        }
    }
    let killed_at = stored();
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(&path)
        .args(["sync", "--once", "--quiet"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "the clean sync failed: {}", String::from_utf8_lossy(&out.stderr));

    let server = server_uids(&hosted);
    assert_eq!(server.len(), n, "populate put {n} messages on Dovecot");
    let rows = app.store.messages().list("becker", Some("INBOX"), 1_000_000).unwrap();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        let key = r.message_id.clone().unwrap_or_else(|| format!("uid {:?}", r.uid));
        *per_key.entry(key).or_default() += 1;
    }
    let uids: BTreeSet<u32> = rows.iter().filter_map(|r| r.uid).collect();
    let lost = server.difference(&uids).count();
    let duplicates: usize = per_key.values().map(|c| c - 1).sum();
    eprintln!(
        "crash mirror: seed {seed}, {kills} kills (store had {killed_at} of {n} after them): lost {lost}, duplicates {duplicates}, unknown 0"
    );
    assert_eq!(kills, KILLS, "seed {seed}: every kill must land while the mirror runs");
    assert_eq!(lost, 0, "seed {seed}: messages on Dovecot missing from the store");
    assert_eq!(duplicates, 0, "seed {seed}: messages stored twice");
    assert_eq!(rows.len(), n, "seed {seed}: one row per message");
}

fn server_uids(user: &str) -> BTreeSet<u32> {
    support::doveadm(&["-f", "flow", "fetch", "-u", user, "uid", "mailbox", "INBOX", "all"])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("uid=")?.parse().ok())
        .collect()
}

// ------------------------------------------------------------------------------ the outbox

/// How many times Postfix captured each of `rcpts`, read in one pass over the capture folder.
fn captures(rcpts: &BTreeSet<String>) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = rcpts.iter().map(|r| (r.clone(), 0)).collect();
    let Ok(entries) = std::fs::read_dir(capture_dir()) else { return out };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "env") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else { continue };
        if let Some(r) = text.lines().find_map(|l| l.strip_prefix("rcpt_to="))
            && let Some(n) = out.get_mut(&r.trim().to_ascii_lowercase())
        {
            *n += 1;
        }
    }
    out
}

/// Ten SIGKILLs of `postbote run` at seeded random points while it drains 200 messages, then a
/// clean run: every message arrives once, or is `unknown` (announced, waiting for a person) and
/// arrived at most once; none is lost, none is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_kills_during_an_outbox_drain_of_200_lose_and_duplicate_nothing() {
    let seed = seed();
    eprintln!("crash seed {seed} (set POSTBOTE_CRASH_SEED to vary it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let n = 200;
    let u = format!("cr{}", unique_token().replace('.', "x"));
    let hosted = format!("{u}.bau-firma@handwerk.test");
    let login = format!("{u}@bau-firma.test");
    let (imap_pw, smtp_pw) = (format!("{u}-imap"), format!("{u}-smtp"));
    support::stack(&["add-user", &hosted, &imap_pw], None);
    support::stack(&["add-user", &login, &smtp_pw], None);
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &hosted, &imap_pw, &login, &smtp_pw, "");
    let app = app_for(&path);
    let mut queued = Vec::new();
    for i in 0..n {
        let rcpt = format!("k{i}-{u}@kunde.test");
        let raw = format!("From: <{login}>\r\nTo: <{rcpt}>\r\nSubject: crash {i}\r\n\r\nnumber {i}\r\n");
        let q = outbox::enqueue(
            &app,
            Outgoing {
                mailbox: "becker".into(),
                raw: raw.into_bytes(),
                recipients: None,
                origin: Origin::Office,
                discard_after: None,
            },
        )
        .unwrap();
        queued.push((q, rcpt));
    }
    let count = |status: State| app.store.outbox().counts(Some("becker")).unwrap().get(&status).copied().unwrap_or(0);
    let done = || (count(State::Sent) + count(State::Unknown)) as usize;
    let mut kills = 0;
    for (i, (mark, delay)) in kill_points(&mut rng, KILLS, 1, n - 20, 150).into_iter().enumerate() {
        let mut child = spawn(&path, &["run"], &dir.path().join(format!("run{i}.log")));
        if kill_at(&mut child, mark, delay, done).await {
            kills += 1;
        }
    }
    let killed_at = done();
    let mut clean = spawn(&path, &["run"], &dir.path().join("clean.log"));
    wait_for("the queue to settle", Duration::from_secs(120), || {
        let busy: i64 = [State::Queued, State::Deferred, State::Sending].into_iter().map(count).sum();
        (busy == 0).then_some(())
    })
    .await;
    let _ = Command::new("kill").args(["-TERM", &clean.id().to_string()]).status();
    clean.wait().unwrap();

    let rcpts: BTreeSet<String> = queued.iter().map(|(_, r)| r.clone()).collect();
    let statuses: Vec<String> = queued
        .iter()
        .map(|(q, _)| app.store.outbox().state(q.id).unwrap().map(|s| s.to_string()).unwrap_or_default())
        .collect();
    let sent_rcpts: BTreeSet<String> =
        queued.iter().zip(&statuses).filter(|(_, s)| *s == "sent").map(|((_, r), _)| r.clone()).collect();
    // Postfix hands a queued message to the capture a moment later: wait for every sent one.
    let copies = wait_for("Postfix to capture every sent message", Duration::from_secs(60), || {
        let c = captures(&rcpts);
        sent_rcpts.iter().all(|r| c[r] >= 1).then_some(c)
    })
    .await;
    let (mut lost, mut duplicates, mut unknown) = (0, 0, 0);
    let mut odd = Vec::new();
    for ((q, rcpt), status) in queued.iter().zip(&statuses) {
        let c = copies[rcpt];
        duplicates += c.saturating_sub(1);
        match status.as_str() {
            "sent" => {}
            "unknown" => unknown += 1,
            other => {
                lost += 1;
                odd.push(format!("message {} ended {other}", q.id));
            }
        }
    }
    eprintln!(
        "crash outbox: seed {seed}, {kills} kills ({killed_at} of {n} done after them): lost {lost}, duplicates {duplicates}, unknown {unknown}"
    );
    assert_eq!(kills, KILLS, "seed {seed}: every kill must land while the queue drains");
    assert_eq!(lost, 0, "seed {seed}: {odd:?}");
    assert_eq!(duplicates, 0, "seed {seed}: a recipient got a message twice");
    assert!(unknown <= KILLS, "seed {seed}: only a message in flight at a kill can be unknown ({unknown})");
}
