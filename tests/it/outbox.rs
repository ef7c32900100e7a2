//! The outbound queue against the real Postfix (submission 10587 with STARTTLS and AUTH,
//! submissions 10465 with implicit TLS) and Dovecot (the Sent copy), on loopback.
//!
//! Each test has its own Dovecot users, its own store and control port, and recipients whose
//! local parts carry a unique tag, so tests run in parallel with everyone else's. Postfix
//! captures every recipient outside handwerk.test to `.stack/postfix/captured/` (`.env` with the
//! envelope, `.eml` with the message); `reject*` is refused with 550 and `greylist*` gets 450
//! once. Waiting is always polling for a condition with a deadline, never a bare sleep.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use postbote::app::App;
use postbote::outbox::{self, Origin, Outgoing, State};
use tokio_util::sync::CancellationToken;

// ----------------------------------------------------------------------------- helpers

use crate::support::{self, Captured, captured_for, free_port};

/// A tag unique to this call, usable in local parts and mailbox ids.
fn unique(prefix: &str) -> String {
    format!("{prefix}{}", support::unique_token().replace('.', "x"))
}

/// Create a Dovecot user (also an SMTP login, through Postfix's Dovecot SASL).
fn add_user(addr: &str, pw: &str) {
    support::stack(&["add-user", addr, pw], None);
}

/// Wait (off the runtime's threads) until `rcpt` has been captured once; return that capture.
async fn wait_captured(rcpt: &str, timeout: Duration) -> Captured {
    let r = rcpt.to_string();
    let got = tokio::task::spawn_blocking(move || support::wait_captured(&r, 1, timeout)).await.unwrap();
    got.into_iter().next().unwrap_or_else(|| panic!("nothing captured for {rcpt} within {timeout:?}"))
}

async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header(eml: &[u8], name: &str) -> Option<String> {
    let raw = postbote::message::raw_header(&eml[..postbote::message::find_header_end(eml)], name.as_bytes())?;
    Some(String::from_utf8_lossy(&raw).trim().to_string())
}

#[derive(Clone)]
pub(crate) struct Opts {
    pub(crate) transport: &'static str,
    pub(crate) send_while: &'static str,
    pub(crate) relay_implicit: bool,
    pub(crate) wrong_smtp_password: bool,
    pub(crate) log_sessions: bool,
    pub(crate) control_unix: bool,
    /// Some(true): sign with a fresh key; Some(false): a key file that does not exist.
    pub(crate) dkim: Option<bool>,
    /// The mailbox's `sent_folder`, when not the default.
    pub(crate) sent_folder: Option<&'static str>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            transport: "direct",
            send_while: "always",
            relay_implicit: false,
            wrong_smtp_password: false,
            log_sessions: false,
            control_unix: false,
            dkim: None,
            sent_folder: None,
        }
    }
}

/// One mailbox with fresh Dovecot users, its own store and control port.
pub(crate) struct Harness {
    _dir: tempfile::TempDir,
    app: App,
    u: String,
    smtp_pw: String,
    token: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Harness {
    /// Write the config and create the users; nothing runs yet.
    pub(crate) fn prepare(o: &Opts) -> (tempfile::TempDir, String, String, PathBuf) {
        postbote::tls::install_provider();
        support::ensure_stack();
        let u = unique("ob");
        let dir = tempfile::tempdir().unwrap();
        let imap_pw = format!("{u}-imap-pw");
        let smtp_pw = format!("{u}-smtp-Pw!");
        add_user(&format!("{u}.bau-firma@handwerk.test"), &imap_pw);
        add_user(&format!("{u}@bau-firma.test"), &smtp_pw);
        std::fs::write(dir.path().join("imap.pw"), &imap_pw).unwrap();
        let configured = if o.wrong_smtp_password { "not-the-password".to_string() } else { smtp_pw.clone() };
        std::fs::write(dir.path().join("smtp.pw"), &configured).unwrap();
        let (relay_port, relay_tls) = if o.relay_implicit { (10465, "implicit") } else { (10587, "starttls") };
        let text = format!(
            r#"
[agent]
data_dir = "{d}/data"
[imap]
host = "localhost"
port = 10143
tls = "starttls"
ca_file = "{ca}"
[relay]
host = "localhost"
port = {relay_port}
tls = "{relay_tls}"
ca_file = "{ca}"
send_while = "always"
log_sessions = {ls}
[direct]
host = "localhost"
port = 10587
tls = "starttls"
ca_file = "{ca}"
send_while = "{sw}"
log_sessions = {ls}
[outbox]
retry_schedule = ["1s"]
[control]
listen = "{listen}"
[jmap]
enabled = false
[[mailbox]]
id = "{u}"
name = "Test Müller {u}"
addresses = ["{u}@bau-firma.test"]
hosted_address = "{u}.bau-firma@handwerk.test"
password_file = "{d}/imap.pw"
transport = "{t}"
{sent}[mailbox.smtp]
login = "{u}@bau-firma.test"
password_file = "{d}/smtp.pw"
{dkim}"#,
            d = dir.path().display(),
            ca = support::ca_file().display(),
            ls = o.log_sessions,
            sw = o.send_while,
            t = o.transport,
            sent = o.sent_folder.map(|f| format!("sent_folder = \"{f}\"\n")).unwrap_or_default(),
            dkim = match o.dkim {
                None => String::new(),
                Some(valid) => {
                    let key = dir.path().join("dkim.key");
                    if valid {
                        postbote::dkim::keygen("bau-firma.test", "pb2026", &key).unwrap();
                    }
                    format!("[mailbox.dkim]\nselector = \"pb2026\"\nkey_file = \"{}\"\n", key.display())
                }
            },
            listen = if o.control_unix {
                format!("unix:{}/control.sock", dir.path().display())
            } else {
                format!("127.0.0.1:{}", free_port())
            },
        );
        let path = dir.path().join("postbote.toml");
        std::fs::write(&path, text).unwrap();
        (dir, u, smtp_pw, path)
    }

    pub(crate) fn app_for(path: &Path) -> App {
        let cfg = postbote::config::Config::load(path).unwrap();
        let store = postbote::store::Store::open(&cfg.store_path()).unwrap();
        store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
        App::new(std::sync::Arc::new(cfg), store)
    }

    /// Prepare and run the outbox loop and the control endpoint in this process.
    async fn start(o: Opts) -> Harness {
        let (dir, u, smtp_pw, path) = Self::prepare(&o);
        let app = Self::app_for(&path);
        let token = CancellationToken::new();
        let mut tasks = Vec::new();
        for which in ["outbox", "control"] {
            let (app, t) = (app.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let r =
                    if which == "outbox" { outbox::run(app, t).await } else { postbote::control::serve(app, t).await };
                r.unwrap_or_else(|e| panic!("{which} failed: {e:#}"));
            }));
        }
        Harness { _dir: dir, app, u, smtp_pw, token, tasks }
    }

    async fn stop(self) {
        self.token.cancel();
        for t in self.tasks {
            t.await.unwrap();
        }
    }

    fn from(&self) -> String {
        format!("{}@bau-firma.test", self.u)
    }

    fn rcpt(&self, local: &str) -> String {
        format!("{local}-{}@kunde.test", self.u)
    }

    fn enqueue(&self, to: &[String], subject: &str) -> outbox::Queued {
        let raw = format!(
            "From: Test <{}>\r\nTo: {}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\n.\r\nbody line after a lone dot\r\n",
            self.from(),
            to.join(", ")
        );
        outbox::enqueue(
            &self.app,
            Outgoing {
                mailbox: self.u.clone(),
                raw: raw.into_bytes(),
                recipients: None,
                origin: Origin::Office,
                discard_after: None,
            },
        )
        .unwrap()
    }

    async fn wait_until_sent(app: &App, id: i64) {
        wait_for("the message to be sent", Duration::from_secs(10), || {
            (outbox::state(app, id).unwrap() == Some(State::Sent)).then_some(())
        })
        .await;
    }

    fn status(&self, id: i64) -> String {
        outbox::state(&self.app, id).unwrap().map(|s| s.to_string()).unwrap_or_default()
    }

    async fn wait_status(&self, id: i64, want: &str, timeout: Duration) {
        wait_for(&format!("message {id} to be {want}"), timeout, || (self.status(id) == want).then_some(())).await;
    }

    /// The outbox lines and JSON `postbote status` shows for the harness's mailbox.
    fn status_part(&self) -> postbote::status::Part {
        let summary = outbox::status(&self.app, &self.u).unwrap();
        postbote::status::outbox::render(&summary, self.app.config.agent.time_zone)
    }

    /// Wait until the loop has looked at message `id` after `after` (unix seconds) and noted why
    /// it waits: proof that the queue was considered, not just that time passed.
    async fn wait_checked(&self, id: i64, after: i64) -> String {
        wait_for("the queue loop to look at the message", Duration::from_secs(15), || {
            let (m, _) = self.app.store.outbox().show(id).unwrap()?;
            (m.checked_at.is_some_and(|c| c > after)).then(|| m.waiting.clone().unwrap_or_default())
        })
        .await
    }
}

/// A Sent folder search on Dovecot: how many copies with this Message-ID.
async fn sent_copies(h: &Harness, message_id: &str) -> usize {
    let mb = h.app.config.mailbox(&h.u).unwrap();
    let mut s = postbote::imap::connect(&h.app.config, mb).await.unwrap();
    s.examine("Sent").await.unwrap();
    let n = s.uid_search(format!("HEADER Message-ID \"<{message_id}>\"")).await.unwrap().len();
    let _ = s.logout().await;
    n
}

// ----------------------------------------------------------------------------- tests

#[tokio::test]
async fn direct_delivers_with_company_envelope_and_sent_copy() {
    let h = Harness::start(Opts::default()).await;
    let (a, b) = (h.rcpt("a"), h.rcpt("b"));
    let q = h.enqueue(&[a.clone(), b.clone()], "Angebot Badsanierung");
    let got = wait_captured(&a, Duration::from_secs(20)).await;
    wait_captured(&b, Duration::from_secs(5)).await;
    assert_eq!(got.mail_from, h.from(), "direct: the envelope sender is the company address");
    assert_eq!(got.sasl_username, h.from(), "direct: the mailbox's own SMTP login");
    assert!(header(&got.raw, "From").unwrap().contains(&h.from()));
    assert_eq!(header(&got.raw, "Message-ID").unwrap(), format!("<{}>", q.message_id));
    assert!(q.message_id.ends_with("@bau-firma.test"), "our Message-ID is on the company domain: {}", q.message_id);
    assert!(header(&got.raw, "Date").is_some());
    let body = String::from_utf8_lossy(&got.raw);
    assert!(
        body.contains("\r\n.\r\nbody line after a lone dot") || body.contains("\n.\nbody line after a lone dot"),
        "dot-stuffing round trip"
    );
    h.wait_status(q.id, "sent", Duration::from_secs(10)).await;
    // The Sent copy, exactly once, even after more loop passes.
    wait_for("the Sent copy", Duration::from_secs(15), || {
        h.app.store.outbox().show(q.id).unwrap().filter(|(m, _)| m.sent_copy_done).map(|_| ())
    })
    .await;
    assert_eq!(sent_copies(&h, &q.message_id).await, 1);
    h.stop().await;
}

#[tokio::test]
async fn relay_uses_hosted_envelope_and_company_from_and_never_duplicates_the_sent_copy() {
    let h = Harness::start(Opts { transport: "relay", relay_implicit: true, ..Opts::default() }).await;
    let a = h.rcpt("r");
    // The message carries the hosted address in From: it must be rewritten to the company one.
    let raw = format!(
        "From: Hans <{}.bau-firma@handwerk.test>\r\nTo: <{a}>\r\nBcc: <{}>\r\nSubject: relay\r\n\r\nhello\r\n",
        h.u,
        h.rcpt("hidden")
    );
    let q = outbox::enqueue(
        &h.app,
        Outgoing {
            mailbox: h.u.clone(),
            raw: raw.into_bytes(),
            recipients: None,
            origin: Origin::Phone,
            discard_after: None,
        },
    )
    .unwrap();
    let got = wait_captured(&a, Duration::from_secs(20)).await;
    let hidden = wait_captured(&h.rcpt("hidden"), Duration::from_secs(5)).await;
    assert_eq!(
        got.mail_from,
        format!("{}.bau-firma@handwerk.test", h.u),
        "relay: envelope sender is the hosted address"
    );
    assert_eq!(got.sasl_username, format!("{}.bau-firma@handwerk.test", h.u), "relay: the IMAP login");
    let from = header(&got.raw, "From").unwrap();
    assert!(from.contains(&h.from()) && !from.contains("handwerk.test"), "From shows the company address: {from}");
    assert!(header(&got.raw, "Bcc").is_none() && header(&hidden.raw, "Bcc").is_none(), "Bcc is never sent");
    h.wait_status(q.id, "sent", Duration::from_secs(10)).await;
    wait_for("the Sent copy", Duration::from_secs(15), || {
        h.app.store.outbox().show(q.id).unwrap().filter(|(m, _)| m.sent_copy_done).map(|_| ())
    })
    .await;
    assert_eq!(sent_copies(&h, &q.message_id).await, 1);

    // Fault injection: as if postbote died after an APPEND and before recording it. The retry
    // must find the copy and not append a second one.
    h.app
        .store
        .write(|t| {
            t.conn()
                .execute("UPDATE outbox_message SET sent_copy_done = 0, sent_copy_tries = 1 WHERE id = ?1", [q.id])?;
            Ok(())
        })
        .unwrap();
    h.app.outbox_wake.notify_one();
    wait_for("the copy to be settled again", Duration::from_secs(15), || {
        h.app.store.outbox().show(q.id).unwrap().filter(|(m, _)| m.sent_copy_done).map(|_| ())
    })
    .await;
    assert_eq!(sent_copies(&h, &q.message_id).await, 1, "a retried append never duplicates");
    let (_, trail) = h.app.store.outbox().show(q.id).unwrap().unwrap();
    assert!(trail.iter().any(|a| a.text.contains("not appended twice")), "{trail:?}");
    h.stop().await;
}

#[tokio::test]
async fn closed_gate_holds_mail_until_login_and_lease_expiry_closes_it() {
    let h = Harness::start(Opts { send_while: "session", ..Opts::default() }).await;
    let a = h.rcpt("gate");
    let t0 = postbote::store::now();
    let q = h.enqueue(std::slice::from_ref(&a), "waits for the office");
    // The loop looks at it twice and keeps it: nothing reaches Postfix.
    let why = h.wait_checked(q.id, t0 - 1).await;
    assert!(why.contains("office session"), "{why}");
    let t1 = postbote::store::now();
    h.wait_checked(q.id, t1).await;
    assert!(captured_for(&a).is_empty(), "sent while the gate was closed");
    assert_eq!(h.status(q.id), "queued");
    let part = h.status_part();
    assert_eq!(part.json["gate"]["open"], false);

    // A login through the control endpoint: the queue drains within a second or so.
    let listen = h.app.config.control.clone();
    let (code, s) = wait_for_async_login(&listen, "anna", "1h").await;
    assert_eq!(code, 201, "{s}");
    let started = Instant::now();
    wait_captured(&a, Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "draining took {:?}", started.elapsed());
    let id = s["id"].as_str().unwrap().to_string();
    let (code, _) = postbote::control::request(&listen, "POST", &format!("/session/{id}/logout"), None).await.unwrap();
    assert_eq!(code, 204);

    // A short lease that is not renewed closes the gate by itself.
    let s = outbox::session_login(&h.app, "bernd", Some(Duration::from_secs(1))).unwrap();
    assert!(outbox::gate::is_open(&h.app, postbote::config::Transport::Direct).unwrap());
    wait_for("the lease to run out", Duration::from_secs(10), || {
        (!outbox::gate::is_open(&h.app, postbote::config::Transport::Direct).unwrap()).then_some(())
    })
    .await;
    let b = h.rcpt("after-lease");
    let t2 = postbote::store::now();
    let q2 = h.enqueue(std::slice::from_ref(&b), "after the lease");
    let why = h.wait_checked(q2.id, t2).await;
    assert!(why.contains("office session"), "{why}");
    h.wait_checked(q2.id, postbote::store::now()).await;
    assert!(captured_for(&b).is_empty(), "sent after the lease ran out");
    assert!(outbox::session_heartbeat(&h.app, &s.id).unwrap().is_none(), "an expired lease cannot be renewed");
    outbox::cancel(&h.app, q2.id, "test over").unwrap();
    h.stop().await;
}

/// The control endpoint may take a moment to bind after start.
async fn wait_for_async_login(listen: &postbote::config::Control, user: &str, ttl: &str) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match postbote::control::request(
            listen,
            "POST",
            "/session/login",
            Some(&serde_json::json!({ "user": user, "ttl": ttl })),
        )
        .await
        {
            Ok(r) => return r,
            Err(e) => {
                assert!(Instant::now() < deadline, "control endpoint: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test]
async fn greylisted_recipient_is_deferred_then_delivered_and_rejected_one_gets_a_notice() {
    let h = Harness::start(Opts::default()).await;
    let (ok, grey, rej) = (h.rcpt("ok"), h.rcpt("greylist"), h.rcpt("reject"));
    let q = h.enqueue(&[ok.clone(), grey.clone(), rej.clone()], "Rechnung 42");
    wait_captured(&ok, Duration::from_secs(20)).await;
    // First attempt: 450 for the greylisted one, recorded in the audit trail.
    wait_for("the 450 in the audit trail", Duration::from_secs(10), || {
        let (_, trail) = h.app.store.outbox().show(q.id).unwrap()?;
        trail.iter().any(|a| a.recipient.as_deref() == Some(grey.as_str()) && a.code == Some(450)).then_some(())
    })
    .await;
    let got = wait_captured(&grey, Duration::from_secs(20)).await;
    assert_eq!(got.mail_from, h.from());
    h.wait_status(q.id, "sent", Duration::from_secs(10)).await;
    assert_eq!(captured_for(&ok).len(), 1, "the accepted recipient got exactly one copy");
    assert!(captured_for(&rej).is_empty());
    let (m, _) = h.app.store.outbox().show(q.id).unwrap().unwrap();
    let st: HashMap<_, _> = m.recipients.iter().map(|r| (r.address.clone(), r.status.clone())).collect();
    assert_eq!((st[&ok].as_str(), st[&grey].as_str(), st[&rej].as_str()), ("sent", "sent", "failed"));
    // The notice is in the sender's INBOX in the store, readable in both languages.
    let inbox = h.app.store.messages().list(&h.u, Some("INBOX"), 10).unwrap();
    let notice =
        inbox.iter().find(|m| m.subject.contains("Not delivered: Rechnung 42")).expect("a notice in the INBOX");
    assert!(notice.uid.is_none(), "not on the server yet: the harness runs no IMAP task");
    let raw = String::from_utf8(h.app.store.messages().raw(notice.id).unwrap().unwrap()).unwrap();
    assert!(
        raw.contains(&rej) && raw.contains("550") && raw.contains("NICHT zugestellt") && raw.contains("NOT delivered"),
        "{raw}"
    );
    assert!(!raw.contains(&ok), "the notice names only the failed recipient");
    // A sync writes it back to the server's INBOX, where the office program reads mail, and
    // the mirror then knows it by its UID instead of fetching it a second time.
    postbote::mirror::sync_once(&h.app, &h.u, false).await.unwrap();
    let mut imap = support::RawImap::login(&format!("{}.bau-firma@handwerk.test", h.u), &format!("{}-imap-pw", h.u));
    imap.select("INBOX");
    let on_server = imap.uid_search("SUBJECT \"Rechnung 42\" KEYWORD $postbote-notice");
    assert_eq!(on_server.len(), 1, "the notice is in the server's INBOX, once");
    imap.logout();
    postbote::mirror::sync_once(&h.app, &h.u, false).await.unwrap();
    let notices: Vec<_> = h
        .app
        .store
        .messages()
        .list(&h.u, Some("INBOX"), 10)
        .unwrap()
        .into_iter()
        .filter(|m| m.subject.contains("Not delivered: Rechnung 42"))
        .collect();
    assert_eq!(notices.len(), 1, "no second copy from the mirror");
    assert_eq!(notices[0].uid, Some(on_server[0]));
    h.stop().await;
}

#[tokio::test]
async fn wrong_password_pauses_the_transport_without_hammering() {
    let h = Harness::start(Opts { wrong_smtp_password: true, ..Opts::default() }).await;
    let q1 = h.enqueue(&[h.rcpt("p1")], "one");
    let q2 = h.enqueue(&[h.rcpt("p2")], "two");
    wait_for("the pause", Duration::from_secs(20), || h.app.store.outbox().pause(&h.u).unwrap()).await;
    // Several more passes of the loop over the paused mailbox.
    for _ in 0..3 {
        let t = postbote::store::now();
        let why = h.wait_checked(q2.id, t).await;
        assert!(why.contains("paused"), "{why}");
    }
    let refusals: usize = [q1.id, q2.id]
        .iter()
        .map(|id| h.app.store.outbox().show(*id).unwrap().unwrap().1.iter().filter(|a| a.code == Some(535)).count())
        .sum();
    assert_eq!(refusals, 1, "one refused login, then no more tries");
    assert_eq!((h.status(q1.id).as_str(), h.status(q2.id).as_str()), ("queued", "queued"));
    let part = h.status_part();
    assert!(part.json["paused"]["reason"].as_str().unwrap().contains("535"), "{}", part.json);
    assert!(part.lines.iter().any(|l| l.contains("SENDING PAUSED")), "{:?}", part.lines);
    assert!(!format!("{:?}{}", part.lines, part.json).contains("not-the-password"));
    for id in [q1.id, q2.id] {
        outbox::cancel(&h.app, id, "test over").unwrap();
    }
    h.stop().await;
}

#[tokio::test]
async fn transcript_records_the_session_without_any_credential() {
    let h = Harness::start(Opts { log_sessions: true, ..Opts::default() }).await;
    let a = h.rcpt("t");
    let q = h.enqueue(std::slice::from_ref(&a), "transcript");
    wait_captured(&a, Duration::from_secs(20)).await;
    h.wait_status(q.id, "sent", Duration::from_secs(10)).await;
    let dir = h.app.config.agent.data_dir.join("transcripts");
    let text = wait_for("a transcript with QUIT", Duration::from_secs(10), || {
        let files: Vec<_> = std::fs::read_dir(&dir).ok()?.flatten().map(|e| e.path()).collect();
        let text: String = files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect();
        text.contains("C: QUIT").then_some(text)
    })
    .await;
    let login = h.from();
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in [
        h.smtp_pw.clone(),
        b64.encode(&h.smtp_pw),
        b64.encode(format!("\0{login}\0{}", h.smtp_pw)),
        b64.encode(format!("{login}\0{login}\0{}", h.smtp_pw)),
    ] {
        assert!(!text.contains(&secret), "the transcript contains a credential form: {secret}");
    }
    assert!(text.contains("AUTH PLAIN [credentials hidden]"), "{text}");
    assert!(text.contains(&format!("C: MAIL FROM:<{login}>")) && text.contains(&format!("C: RCPT TO:<{a}>")), "{text}");
    assert!(text.contains("S: 235") && text.contains("C: DATA") && text.contains("bytes, not recorded"), "{text}");
    assert!(!text.contains("Guten Tag"), "the body is replaced by its size");
    let part = h.status_part();
    assert!(part.lines.iter().any(|l| l.contains("WARNING: SMTP sessions are being recorded")), "{:?}", part.lines);
    h.stop().await;
}

/// The daemon binary is killed with SIGKILL while it drains a queue, then started again:
/// every message is delivered exactly once or is marked unknown; none is lost or silently
/// sent twice.
#[tokio::test]
async fn sigkill_while_sending_loses_nothing_and_never_sends_twice_silently() {
    let o = Opts::default();
    let (dir, u, _pw, path) = Harness::prepare(&o);
    let app = Harness::app_for(&path);
    let n = 60;
    let mut queued = Vec::new();
    for i in 0..n {
        let rcpt = format!("k{i}-{u}@kunde.test");
        let raw = format!("From: <{u}@bau-firma.test>\r\nTo: <{rcpt}>\r\nSubject: crash {i}\r\n\r\nnumber {i}\r\n");
        let q = outbox::enqueue(
            &app,
            Outgoing {
                mailbox: u.clone(),
                raw: raw.into_bytes(),
                recipients: None,
                origin: Origin::Office,
                discard_after: None,
            },
        )
        .unwrap();
        queued.push((q, rcpt));
    }
    let bin = env!("CARGO_BIN_EXE_postbote");
    let spawn = |log: &str| {
        std::process::Command::new(bin)
            .args(["--config", path.to_str().unwrap(), "run"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let mut first = spawn("run1.log");
    // Kill it as soon as the first few messages are sent: it is in the middle of the queue.
    // (Asked of the store, which answers in a millisecond; reading the capture directory takes
    // longer than the daemon needs for the rest of the queue once it holds thousands of files.)
    wait_for("the first deliveries", Duration::from_secs(30), || {
        (app.store.outbox().state(queued[2].0.id).unwrap() == Some(outbox::State::Sent)).then_some(())
    })
    .await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let after_kill: Vec<String> =
        queued.iter().map(|(q, _)| app.store.outbox().state(q.id).unwrap().unwrap().to_string()).collect();
    assert!(after_kill.iter().any(|s| s == "queued"), "the kill came too late to test anything: {after_kill:?}");

    let mut second = spawn("run2.log");
    let lock = app.config.agent.data_dir.join("daemon.lock");
    let pid = second.id().to_string();
    wait_for("the second daemon to hold the lock", Duration::from_secs(30), || {
        (std::fs::read_to_string(&lock).unwrap_or_default().trim() == pid).then_some(())
    })
    .await;
    // The kernel dropped the killed daemon's lock with it, so the second one started; a third
    // on the same data directory meanwhile is refused, naming the one that runs.
    let third = std::process::Command::new(bin).args(["--config", path.to_str().unwrap(), "run"]).output().unwrap();
    let said = String::from_utf8_lossy(&third.stderr);
    assert!(!third.status.success(), "a second daemon on one store must not start: {said}");
    assert!(said.contains("another postbote daemon") && said.contains(&pid), "{said}");
    wait_for("the queue to settle", Duration::from_secs(60), || {
        let counts = app.store.outbox().counts(Some(&u)).unwrap();
        let busy: i64 = [State::Queued, State::Deferred, State::Sending].iter().filter_map(|s| counts.get(s)).sum();
        (busy == 0).then_some(())
    })
    .await;
    let _ = std::process::Command::new("kill").args(["-TERM", &second.id().to_string()]).status();
    second.wait().unwrap();

    let mut unknown = 0;
    for (q, rcpt) in &queued {
        let copies = captured_for(rcpt).len();
        let status = app.store.outbox().state(q.id).unwrap().unwrap();
        match status.as_str() {
            "sent" => assert_eq!(copies, 1, "message {} is sent and must have arrived exactly once", q.id),
            "unknown" => {
                unknown += 1;
                assert!(copies <= 1, "an unknown message must not have been sent again");
            }
            other => panic!("message {} ended {other}", q.id),
        }
    }
    assert!(unknown <= 1, "only the message in flight can be unknown, found {unknown}");
}

/// After a crash, a message left in `sending` becomes `unknown`; if its Message-ID is in the
/// server's Sent folder it is settled as sent (and says how), otherwise it stays unknown and
/// leaves only when a person runs `queue retry`.
#[tokio::test]
async fn unknown_after_crash_is_settled_from_the_sent_folder_or_waits_for_a_person() {
    let o = Opts::default();
    let (_dir, u, _pw, path) = Harness::prepare(&o);
    let app = Harness::app_for(&path);
    let mk = |local: &str| {
        let raw =
            format!("From: <{u}@bau-firma.test>\r\nTo: <{local}-{u}@kunde.test>\r\nSubject: {local}\r\n\r\nx\r\n");
        outbox::enqueue(
            &app,
            Outgoing {
                mailbox: u.clone(),
                raw: raw.into_bytes(),
                recipients: None,
                origin: Origin::Office,
                discard_after: None,
            },
        )
        .unwrap()
    };
    let (found, lost) = (mk("found"), mk("lost"));
    // The daemon "died" while sending both.
    assert!(app.store.outbox().begin(found.id).unwrap() && app.store.outbox().begin(lost.id).unwrap());
    // The provider kept a copy of the first one in Sent (as some servers do when relaying).
    let mb = app.config.mailbox(&u).unwrap();
    let mut s = postbote::imap::connect(&app.config, mb).await.unwrap();
    let copy =
        format!("From: <{u}@bau-firma.test>\r\nMessage-ID: <{}>\r\nSubject: found\r\n\r\nx\r\n", found.message_id);
    s.append("Sent", None, None, copy.as_bytes()).await.unwrap();
    let _ = s.logout().await;

    assert_eq!(outbox::sentcopy::reconcile_unknown(&app).await.unwrap(), 1);
    assert_eq!(outbox::state(&app, found.id).unwrap(), Some(State::Sent));
    let (m, _) = app.store.outbox().show(found.id).unwrap().unwrap();
    assert!(m.resolved.unwrap().contains("found in the server's folder \"Sent\""));
    assert_eq!(outbox::state(&app, lost.id).unwrap(), Some(State::Unknown));

    // Nothing sends an unknown message by itself...
    let token = CancellationToken::new();
    let task = tokio::spawn(outbox::run(app.clone(), token.clone()));
    let rcpt = format!("lost-{u}@kunde.test");
    // A message queued after it goes out: proof that the loop drained this mailbox.
    let marker = mk("marker");
    wait_captured(&format!("marker-{u}@kunde.test"), Duration::from_secs(20)).await;
    Harness::wait_until_sent(&app, marker.id).await;
    assert!(captured_for(&rcpt).is_empty(), "an unknown message was sent without a person's say");
    // ...until a person says so.
    assert!(outbox::retry_now(&app, lost.id, "test").unwrap());
    wait_captured(&rcpt, Duration::from_secs(20)).await;
    token.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(outbox::state(&app, lost.id).unwrap(), Some(State::Sent));
}

/// A session that logs out mid-drain lets the message in flight finish and starts no other:
/// what was delivered is exactly what is recorded as sent, and the rest waits, untouched.
#[tokio::test]
async fn logout_mid_drain_finishes_the_message_in_flight_and_starts_no_other() {
    let h = Harness::start(Opts { send_while: "session", ..Opts::default() }).await;
    let n = 200;
    let queued: Vec<(outbox::Queued, String)> = (0..n)
        .map(|i| {
            let r = h.rcpt(&format!("m{i}"));
            (h.enqueue(std::slice::from_ref(&r), &format!("mid {i}")), r)
        })
        .collect();
    let s = outbox::session_login(&h.app, "anna", None).unwrap();
    wait_captured(&queued[1].1, Duration::from_secs(20)).await;
    assert!(outbox::session_logout(&h.app, &s.id).unwrap());
    // The loop notices the closed gate and notes it on the messages still waiting.
    let last = queued.last().unwrap().0.id;
    let why = h.wait_checked(last, postbote::store::now() - 1).await;
    assert!(why.contains("office session"), "{why}");
    let t = postbote::store::now();
    h.wait_checked(last, t).await;
    let mut sent = 0;
    for (q, r) in &queued {
        let st = h.status(q.id);
        let copies = captured_for(r).len();
        match st.as_str() {
            "sent" => {
                sent += 1;
                assert_eq!(copies, 1, "message {} is sent", q.id);
            }
            "queued" => assert_eq!(copies, 0, "message {} went out after the logout", q.id),
            other => panic!("message {} is {other}", q.id),
        }
    }
    assert!(sent >= 2 && sent < n, "the logout should fall mid-drain: {sent} of {n} sent");
    for (q, _) in &queued {
        let _ = outbox::cancel(&h.app, q.id, "test over");
    }
    h.stop().await;
}

/// The office program's side of the gate over a Unix socket: login, heartbeat, list, logout.
#[tokio::test]
async fn control_endpoint_on_a_unix_socket() {
    let h = Harness::start(Opts { send_while: "session", control_unix: true, ..Opts::default() }).await;
    let listen = h.app.config.control.clone();
    assert!(matches!(listen.listen, postbote::config::ControlListen::Unix(_)));
    let (code, s) = wait_for_async_login(&listen, "office-pc-1", "10m").await;
    assert_eq!(code, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    assert!(s["lease_until"].as_i64().unwrap() > postbote::store::now() + 500);
    let (code, list) = postbote::control::request(&listen, "GET", "/session", None).await.unwrap();
    assert_eq!(code, 200);
    assert!(list.as_array().unwrap().iter().any(|x| x["id"] == id.as_str() && x["user"] == "office-pc-1"));
    let (code, hb) =
        postbote::control::request(&listen, "POST", &format!("/session/{id}/heartbeat"), None).await.unwrap();
    assert_eq!((code, hb["id"].as_str()), (200, Some(id.as_str())));
    let (code, bad) = postbote::control::request(
        &listen,
        "POST",
        "/session/login",
        Some(&serde_json::json!({"user": "x", "ttl": "soon"})),
    )
    .await
    .unwrap();
    assert_eq!(code, 400, "{bad}");
    assert!(bad["error"].as_str().unwrap().contains("ttl"));
    let (code, _) = postbote::control::request(&listen, "POST", &format!("/session/{id}/logout"), None).await.unwrap();
    assert_eq!(code, 204);
    let (code, _) =
        postbote::control::request(&listen, "POST", &format!("/session/{id}/heartbeat"), None).await.unwrap();
    assert_eq!(code, 404, "a logged-out session cannot be renewed");
    assert!(!outbox::gate::is_open(&h.app, postbote::config::Transport::Direct).unwrap());
    h.stop().await;
}

/// With [mailbox.dkim] the message leaves signed for the company domain; with a key that
/// cannot be read nothing leaves unsigned: the mailbox's mail waits with the reason.
#[tokio::test]
async fn dkim_signs_when_configured_and_a_broken_key_holds_the_mail() {
    let h = Harness::start(Opts { dkim: Some(true), ..Opts::default() }).await;
    let a = h.rcpt("dkim");
    h.enqueue(std::slice::from_ref(&a), "signed");
    let got = wait_captured(&a, Duration::from_secs(20)).await;
    let sig = header(&got.raw, "DKIM-Signature").expect("a DKIM-Signature header");
    assert!(sig.contains("d=bau-firma.test") && sig.contains("s=pb2026"), "{sig}");
    h.stop().await;

    let h = Harness::start(Opts { dkim: Some(false), ..Opts::default() }).await;
    let b = h.rcpt("nokey");
    let q = h.enqueue(std::slice::from_ref(&b), "unsigned?");
    h.wait_status(q.id, "deferred", Duration::from_secs(20)).await;
    let (m, _) = h.app.store.outbox().show(q.id).unwrap().unwrap();
    assert!(m.last_error.as_deref().unwrap_or("").contains("DKIM signing failed"), "{:?}", m.last_error);
    assert!(captured_for(&b).is_empty(), "nothing leaves unsigned");
    outbox::cancel(&h.app, q.id, "test over").unwrap();
    h.stop().await;
}
