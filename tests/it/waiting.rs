//! Mail held by a closed office-session gate, against the real daemon, Dovecot and Postfix:
//! the "still waiting" notice (once, after the configured closed-gate working time, never for
//! auto-replies, nothing outside working hours), and the batched Sent copies surviving a
//! SIGKILL in the middle of a batch with exactly one copy per message.
//!
//! The notice tests use a tiny `still_waiting_after` and working hours chosen around the
//! current time, so nothing waits for hours. Each test has its own Dovecot users, store and
//! control port. Waiting is polling for a condition in the store or on the server, with a
//! deadline, never a bare sleep.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Datelike;
use postbote::app::App;
use postbote::outbox::{self, Origin, Outgoing, State};
use postbote::store::outbox::{AttemptResult, RcptOutcome};
use tokio_util::sync::CancellationToken;

use crate::support::{self, RawImap, free_port};

struct Setup {
    dir: tempfile::TempDir,
    /// The mailbox id, also the tag in every address.
    u: String,
    path: PathBuf,
    imap_user: String,
    imap_pw: String,
}

/// Users, password files and a config whose direct transport sends only while an office
/// session is logged in (none is, in these tests).
fn setup(still_waiting_after: &str, working_hours: &str) -> Setup {
    postbote::tls::install_provider();
    support::ensure_stack();
    let u = format!("wt{}", support::unique_token().replace('.', "x"));
    let dir = tempfile::tempdir().unwrap();
    let imap_user = format!("{u}.bau-firma@handwerk.test");
    let (imap_pw, smtp_pw) = (format!("{u}-imap-pw"), format!("{u}-smtp-pw"));
    support::stack(&["add-user", &imap_user, &imap_pw], None);
    support::stack(&["add-user", &format!("{u}@bau-firma.test"), &smtp_pw], None);
    std::fs::write(dir.path().join("imap.pw"), &imap_pw).unwrap();
    std::fs::write(dir.path().join("smtp.pw"), &smtp_pw).unwrap();
    let text = format!(
        r#"
[agent]
data_dir = "{d}/data"
[imap]
host = "localhost"
port = 10143
tls = "starttls"
ca_file = "{ca}"
[direct]
host = "localhost"
port = 10587
tls = "starttls"
ca_file = "{ca}"
send_while = "session"
[outbox]
retry_schedule = ["1s"]
still_waiting_after = "{still_waiting_after}"
working_hours = "{working_hours}"
[control]
listen = "127.0.0.1:{port}"
[jmap]
enabled = false
[[mailbox]]
id = "{u}"
name = "Test {u}"
addresses = ["{u}@bau-firma.test"]
hosted_address = "{imap_user}"
password_file = "{d}/imap.pw"
transport = "direct"
[mailbox.smtp]
login = "{u}@bau-firma.test"
password_file = "{d}/smtp.pw"
"#,
        d = dir.path().display(),
        ca = support::ca_file().display(),
        port = free_port(),
    );
    let path = dir.path().join("postbote.toml");
    std::fs::write(&path, text).unwrap();
    Setup { dir, u, path, imap_user, imap_pw }
}

fn app_for(path: &Path) -> App {
    let cfg = postbote::config::Config::load(path).unwrap();
    let store = postbote::store::Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
    App::new(std::sync::Arc::new(cfg), store)
}

fn spawn(s: &Setup, log: &str, env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_postbote"));
    c.args(["--config", s.path.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(s.dir.path().join(log)).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().unwrap();
}

fn enqueue(app: &App, u: &str, local: &str, subject: &str, origin: Origin, body: &str) -> outbox::Queued {
    let raw =
        format!("From: <{u}@bau-firma.test>\r\nTo: <{local}-{u}@kunde.test>\r\nSubject: {subject}\r\n\r\n{body}\r\n");
    outbox::enqueue(
        app,
        Outgoing { mailbox: u.to_string(), raw: raw.into_bytes(), recipients: None, origin, discard_after: None },
    )
    .unwrap()
}

async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The store's own record, read as a person with `sqlite3` would: (closed-gate working
/// seconds, when the sender was told).
fn waited(app: &App, id: i64) -> (i64, Option<i64>) {
    let c = rusqlite::Connection::open(app.config.store_path()).unwrap();
    c.query_row(
        "SELECT COALESCE(w.gate_secs, 0), w.notice_at FROM outbox_message m LEFT JOIN outbox_wait w ON w.message = m.id
         WHERE m.id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// "Still waiting" notices in the store's INBOX of the mailbox.
fn notices(app: &App, u: &str) -> Vec<postbote::store::messages::MessageSummary> {
    let list = app.store.messages().list(u, Some("INBOX"), 100).unwrap();
    list.into_iter().filter(|m| m.subject.contains("Not sent yet") || m.subject.contains("not sent yet")).collect()
}

/// A message held by the closed gate gets one notice, in the store and on the server, once
/// it has waited `still_waiting_after` of closed-gate working time; the auto-reply queued
/// beside it gets none and accrues nothing; a second message due later the same day waits
/// for the next day's summary; and a restart keeps what was counted and tells nobody twice.
#[tokio::test]
async fn still_waiting_notice_comes_once_after_the_configured_time_and_never_for_auto_replies() {
    let s = setup("3s", "Mon-Sun 00:00-24:00");
    let app = app_for(&s.path);
    let u = s.u.clone();
    let a = enqueue(&app, &u, "kunde", "Angebot Bad Schmidt", Origin::Office, "Guten Tag");
    let r = enqueue(&app, &u, "anfrage", "Abwesenheit", Origin::AutoReply, "Ich bin im Urlaub.");
    let daemon = spawn(&s, "run1.log", &[]);

    let notice = wait_for("the still-waiting notice in the store", Duration::from_secs(30), || {
        notices(&app, &u).into_iter().next()
    })
    .await;
    assert_eq!(notice.subject, "Noch nicht gesendet / Not sent yet: Angebot Bad Schmidt");
    let (wait_a, told_a) = waited(&app, a.id);
    assert!(told_a.is_some(), "the message is marked as told");
    assert!(wait_a >= 3, "told after {wait_a} s of closed-gate time, before the configured 3 s");
    assert_eq!(waited(&app, r.id), (0, None), "an auto-reply accrues nothing and is never told about");
    let raw = app.store.messages().raw(notice.id).unwrap().unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
    let body = parsed.body_text(0).unwrap_or_default().to_string();
    let rcpt = format!("kunde-{u}@kunde.test");
    for want in [rcpt.as_str(), "Angebot Bad Schmidt", "Büroprogramm", "office program"] {
        assert!(body.contains(want), "the notice must mention {want:?}:\n{body}");
    }
    assert!(String::from_utf8_lossy(&raw).contains("Auto-Submitted: auto-generated"));

    // On the server too, through the write-back.
    let mut imap = RawImap::login(&s.imap_user, &s.imap_pw);
    wait_for("the notice in the server's INBOX", Duration::from_secs(30), || {
        imap.select("INBOX");
        (imap.uid_search("SUBJECT \"Not sent yet\"").len() == 1).then_some(())
    })
    .await;

    // A second message, due later the same day: the sender was told today already.
    let b = enqueue(&app, &u, "zweiter", "Rechnung 42", Origin::Office, "Anbei");
    wait_for("the second message to be due and looked at again", Duration::from_secs(30), || {
        (waited(&app, b.id).0 >= 6).then_some(())
    })
    .await;
    assert_eq!(waited(&app, b.id).1, None, "one notice per sender per day");
    stop(daemon);

    // After a restart the count goes on from what was stored, and nobody is told twice.
    let before = waited(&app, b.id).0;
    let daemon = spawn(&s, "run2.log", &[]);
    wait_for("the restarted daemon to add to the stored wait", Duration::from_secs(30), || {
        (waited(&app, b.id).0 >= before + 3).then_some(())
    })
    .await;
    stop(daemon);
    assert_eq!(notices(&app, &u).len(), 1, "exactly one notice in the store");
    imap.select("INBOX");
    assert_eq!(imap.uid_search("SUBJECT \"Not sent yet\"").len(), 1, "exactly one notice on the server");
    imap.logout();
    assert_eq!(waited(&app, r.id), (0, None));
    assert_eq!(outbox::state(&app, a.id).unwrap(), Some(State::Queued), "the notice does not send it");
}

/// Outside working hours the closed gate costs nothing: with working hours on another day
/// of the week, the loop looks at the held message again and again and it accrues nothing.
#[tokio::test]
async fn nothing_accrues_outside_working_hours() {
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Berlin).weekday();
    let other =
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][today.succ().succ().succ().num_days_from_monday() as usize];
    let s = setup("1s", &format!("{other} 00:00-24:00"));
    let app = app_for(&s.path);
    let a = enqueue(&app, &s.u, "kunde", "Angebot", Origin::Office, "x");
    let token = CancellationToken::new();
    let task = tokio::spawn(outbox::run(app.clone(), token.clone()));
    let start = postbote::store::now();
    wait_for("the loop to look at the message for more than 3 s", Duration::from_secs(30), || {
        let (m, _) = app.store.outbox().show(a.id).unwrap()?;
        m.checked_at.is_some_and(|c| c >= start + 4).then_some(())
    })
    .await;
    token.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(waited(&app, a.id), (0, None), "closed-gate time outside working hours must not count");
    assert!(notices(&app, &s.u).is_empty());
}

/// `n` messages as the queue leaves them once sent: `sent`, their Sent copy missing. A body
/// of about 60 KB makes a batch take long enough to be killed in the middle of.
fn sent_messages(app: &App, u: &str, n: usize) -> Vec<outbox::Queued> {
    let body = "Sehr geehrte Damen und Herren, anbei das Angebot fuer die Badsanierung.\r\n".repeat(820);
    (0..n)
        .map(|i| {
            let q = enqueue(app, u, &format!("k{i}"), &format!("Kopie {i}"), Origin::Office, &body);
            assert!(app.store.outbox().begin(q.id).unwrap());
            let rcpt = format!("k{i}-{u}@kunde.test");
            app.store
                .outbox()
                .finish(
                    q.id,
                    &AttemptResult {
                        server: "test".into(),
                        recipients: vec![(rcpt, RcptOutcome::Sent, Some(250), "250 ok".into())],
                        notes: vec![],
                        status: State::Sent,
                        due_at: None,
                        last_error: None,
                    },
                )
                .unwrap();
            q
        })
        .collect()
}

fn count(app: &App, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(app.config.store_path()).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Kill the daemon with SIGKILL while a batch of Sent copies is on its way (tries committed,
/// not yet confirmed), start it again, and check the Sent folder on Dovecot: exactly one copy
/// of every message, none missing.
async fn sent_copies_survive_sigkill_mid_batch(env: &[(&str, &str)], how: &str) {
    let s = setup("2h", "Mon-Fri 07:00-18:00");
    let app = app_for(&s.path);
    let n = 400;
    let queued = sent_messages(&app, &s.u, n);
    let first = spawn(&s, "run1.log", env);
    // Kill while a batch is on the wire: its tries are committed and it is still unconfirmed
    // at three looks in a row (a batch of 200 × 60 KB takes a while to store; the commits
    // around it do not).
    let db = rusqlite::Connection::open(app.config.store_path()).unwrap();
    let in_flight = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT COUNT(*) FROM outbox_message WHERE sent_copy_tries > 0 AND sent_copy_done = 0", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let mut first = Some(first);
    let mut seen = 0;
    wait_for("a batch of Sent copies on its way", Duration::from_secs(60), || {
        seen = if in_flight(&db) > 0 { seen + 1 } else { 0 };
        (seen >= 3).then(|| {
            let mut c = first.take().unwrap();
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        })
    })
    .await;
    let done: Vec<String> = {
        let mut st = db.prepare("SELECT message_id FROM outbox_message WHERE sent_copy_done = 1").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert!(done.len() < n, "the kill came too late: all {n} copies were already done");
    // What the store records as saved is on the server, once: recorded only after the OK.
    let mut imap = RawImap::login(&s.imap_user, &s.imap_pw);
    imap.select("Sent");
    for id in &done {
        assert_eq!(imap.uid_search(&format!("HEADER Message-ID \"<{id}>\"")).len(), 1, "{id} is recorded as copied");
    }

    let second = spawn(&s, "run2.log", env);
    wait_for("every Sent copy to be done", Duration::from_secs(120), || {
        (count(&app, "SELECT COUNT(*) FROM outbox_message WHERE sent_copy_done = 0") == 0).then_some(())
    })
    .await;
    stop(second);
    let used = count(&app, &format!("SELECT COUNT(*) FROM outbox_attempt WHERE text LIKE '%({how} of %'"));
    assert!(used > 0, "the copies were not saved by {how}");

    assert_eq!(imap.select("Sent") as usize, n, "the Sent folder holds one copy per message");
    for q in &queued {
        let uids = imap.uid_search(&format!("HEADER Message-ID \"<{}>\"", q.message_id));
        assert_eq!(uids.len(), 1, "message {} has {} copies in Sent", q.id, uids.len());
    }
    imap.logout();
}

#[tokio::test]
async fn multiappend_batch_killed_halfway_leaves_one_sent_copy_per_message() {
    sent_copies_survive_sigkill_mid_batch(&[], "MULTIAPPEND").await;
}

#[tokio::test]
async fn pipelined_appends_killed_halfway_leave_one_sent_copy_per_message() {
    sent_copies_survive_sigkill_mid_batch(&[("POSTBOTE_SENT_COPY_METHOD", "pipelined")], "pipelined APPEND").await;
}

/// The batch writer against Dovecot in every combination: MULTIAPPEND and pipelined, with
/// LITERAL+ and with synchronizing literals (each waiting for the server's `+`, as with a
/// server without LITERAL+). Everything confirmed is there once; a refused batch confirms
/// nothing and says why.
#[tokio::test]
async fn batched_appends_with_and_without_literal_plus_and_refusals() {
    use postbote::imap::{
        Error as AppendError,
        append::{Mode, append_all},
    };
    let s = setup("2h", "Mon-Fri 07:00-18:00");
    let app = app_for(&s.path);
    let mb = app.config.mailbox(&s.u).unwrap();
    let mut session = postbote::imap::connect(&app.config, mb).await.unwrap();
    let mut expected = 0;
    for (mode, plus) in
        [(Mode::MultiAppend, true), (Mode::MultiAppend, false), (Mode::Pipelined, true), (Mode::Pipelined, false)]
    {
        let raws: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("From: <{}@bau-firma.test>\r\nMessage-ID: <{mode:?}-{plus}-{i}@bau-firma.test>\r\nSubject: {i}\r\n\r\nx\r\n", s.u).into_bytes())
            .collect();
        let refs: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
        let out = append_all(&mut session, "Sent", "\\Seen", &refs, mode, plus).await;
        assert!(out.error.is_none(), "{mode:?} literal+ {plus}: {:?}", out.error);
        assert_eq!(out.confirmed, vec![0, 1, 2, 3, 4], "{mode:?} literal+ {plus}");
        expected += 5;

        let out = append_all(&mut session, "Nicht da", "\\Seen", &refs[..2], mode, plus).await;
        assert!(out.confirmed.is_empty(), "{mode:?} literal+ {plus}: nothing goes into a missing folder");
        assert!(matches!(out.error, Some(AppendError::Refused { .. })), "{mode:?} literal+ {plus}: {:?}", out.error);
    }
    let _ = session.logout().await;
    let mut imap = RawImap::login(&s.imap_user, &s.imap_pw);
    assert_eq!(imap.select("Sent"), expected);
    imap.logout();
}
