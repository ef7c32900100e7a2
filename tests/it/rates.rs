//! Send-rate limits of the outbox, against the real Postfix (submission 10587) where the
//! behaviour is ours, and against a small scripted SMTP server in this file where a provider's
//! answer must be played (451 "too many messages", 554 "account blocked"): the shared stack must
//! not change. The scripted server speaks STARTTLS with the stack's certificate and accepts any
//! login; it records every envelope it accepts.
//!
//! The pacing over time (ten a minute for five minutes, recovery after a throttle) is proven by
//! the unit tests of `outbox::rate` with `tokio::time::pause`; these tests check what one pass
//! does and that nothing is lost or sent twice. Waiting is always polling for a condition.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postbote::app::App;
use postbote::outbox::{self, Origin, Outgoing, State};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::support::{self, free_port};

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", support::unique_token().replace('.', "x"))
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

/// One mailbox sending `direct` through `port`, with extra keys for `[direct]` and
/// `[mailbox.smtp]`; its own store; the outbox loop running in this process.
struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    app: App,
    u: String,
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Harness {
    fn new(port: u16, direct_extra: &str, login_extra: &str) -> Harness {
        postbote::tls::install_provider();
        support::ensure_stack();
        let u = unique("rt");
        let dir = tempfile::tempdir().unwrap();
        let smtp_pw = format!("{u}-smtp-Pw!");
        support::stack(&["add-user", &format!("{u}@bau-firma.test"), &smtp_pw], None);
        std::fs::write(dir.path().join("imap.pw"), "unused").unwrap();
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
port = {port}
tls = "starttls"
ca_file = "{ca}"
send_while = "always"
{direct_extra}
[outbox]
retry_schedule = ["1s"]
[control]
listen = "127.0.0.1:{control}"
[jmap]
enabled = false
[[mailbox]]
id = "{u}"
addresses = ["{u}@bau-firma.test"]
hosted_address = "{u}.bau-firma@handwerk.test"
password_file = "{d}/imap.pw"
transport = "direct"
[mailbox.smtp]
login = "{u}@bau-firma.test"
password_file = "{d}/smtp.pw"
{login_extra}
"#,
            d = dir.path().display(),
            ca = support::ca_file().display(),
            control = free_port(),
        );
        let path = dir.path().join("postbote.toml");
        std::fs::write(&path, text).unwrap();
        let app = Self::app_for(&path);
        Harness { _dir: dir, path, app, u, token: CancellationToken::new(), task: None }
    }

    fn app_for(path: &std::path::Path) -> App {
        let cfg = postbote::config::Config::load(path).unwrap();
        let store = postbote::store::Store::open(&cfg.store_path()).unwrap();
        store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
        App::new(Arc::new(cfg), store)
    }

    fn start(&mut self) {
        let (app, t) = (self.app.clone(), self.token.clone());
        self.task = Some(tokio::spawn(async move { outbox::run(app, t).await.expect("the outbox loop failed") }));
    }

    async fn stop(&mut self) {
        self.token.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        self.token = CancellationToken::new();
    }

    fn rcpt(&self, local: &str) -> String {
        format!("{local}-{}@kunde.test", self.u)
    }

    fn enqueue(&self, to: &[String], subject: &str) -> outbox::Queued {
        let raw = format!(
            "From: Test <{u}@bau-firma.test>\r\nTo: {}\r\nSubject: {subject}\r\n\r\nGuten Tag.\r\n",
            to.join(", "),
            u = self.u
        );
        outbox::enqueue(
            &self.app,
            Outgoing {
                mailbox: self.u.clone(),
                raw: raw.into_bytes(),
                recipients: Some(to.to_vec()),
                origin: Origin::Office,
                discard_after: None,
            },
        )
        .unwrap()
    }

    fn show(&self, id: i64) -> postbote::store::outbox::OutboxSummary {
        self.app.store.outbox().show(id).unwrap().unwrap().0
    }

    async fn wait_all_sent(&self, ids: &[i64], timeout: Duration) {
        wait_for("every message to be sent", timeout, || {
            ids.iter().all(|id| outbox::state(&self.app, *id).unwrap() == Some(State::Sent)).then_some(())
        })
        .await;
    }
}

/// What Postfix captured for recipients containing `tag`: (recipient, queue id, Message-ID).
fn captures_tagged(tag: &str) -> Vec<(String, String, String)> {
    let Ok(entries) = std::fs::read_dir(support::capture_dir()) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "env") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else { continue };
        let field = |n: &str| {
            text.lines().find_map(|l| l.strip_prefix(n).and_then(|v| v.strip_prefix('='))).unwrap_or("").to_string()
        };
        let rcpt = field("rcpt_to");
        if !rcpt.contains(tag) {
            continue;
        }
        let eml = std::fs::read(p.with_extension("eml")).unwrap_or_default();
        let end = postbote::message::find_header_end(&eml);
        let mid = postbote::message::raw_header(&eml[..end], b"Message-ID")
            .map(|v| String::from_utf8_lossy(&v).trim().to_string())
            .unwrap_or_default();
        out.push((rcpt.to_lowercase(), field("queue_id"), mid));
    }
    out
}

// ----------------------------------------------------------------------------- scripted SMTP

/// What the scripted server answers to the n-th MAIL FROM (1-based); None means 250.
type MailScript = Box<dyn Fn(usize) -> Option<String> + Send + Sync>;

#[derive(Default)]
struct Seen {
    /// Connections accepted.
    connections: usize,
    /// The greeting of the n-th connection (1-based) when it is not 220: the server hangs up.
    refuse_greeting: Option<(usize, String)>,
    /// MAIL FROM commands received.
    mails: usize,
    /// Recipients of every envelope accepted after its final ".".
    delivered: Vec<String>,
}

struct Scripted {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    token: CancellationToken,
}

impl Scripted {
    async fn start(script: MailScript) -> Scripted {
        postbote::tls::install_provider();
        let dir = support::stack_dir().join("certs");
        let certs: Vec<_> = {
            use rustls_pki_types::pem::PemObject;
            rustls_pki_types::CertificateDer::pem_file_iter(dir.join("cert.pem")).unwrap().map(|c| c.unwrap()).collect()
        };
        let key = {
            use rustls_pki_types::pem::PemObject;
            rustls_pki_types::PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap()
        };
        let config =
            tokio_rustls::rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let port = free_port();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let script = Arc::new(Mutex::new(script));
        let token = CancellationToken::new();
        let (s2, sc2, t2) = (seen.clone(), script.clone(), token.clone());
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    _ = t2.cancelled() => return,
                    c = listener.accept() => c,
                };
                let Ok((tcp, _)) = conn else { continue };
                let (acceptor, seen, script) = (acceptor.clone(), s2.clone(), sc2.clone());
                tokio::spawn(async move {
                    let _ = session(tcp, acceptor, seen, script).await;
                });
            }
        });
        Scripted { port, seen, token }
    }

    fn mails(&self) -> usize {
        self.seen.lock().unwrap().mails
    }

    fn delivered(&self) -> Vec<String> {
        self.seen.lock().unwrap().delivered.clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn session(
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    seen: Arc<Mutex<Seen>>,
    script: Arc<Mutex<MailScript>>,
) -> std::io::Result<()> {
    let mut plain = BufReader::new(tcp);
    let refuse = {
        let mut s = seen.lock().unwrap();
        s.connections += 1;
        s.refuse_greeting.clone().filter(|(n, _)| *n == s.connections).map(|(_, g)| g)
    };
    if let Some(g) = refuse {
        plain.get_mut().write_all(format!("{g}\r\n").as_bytes()).await?;
        return Ok(());
    }
    plain.get_mut().write_all(b"220 scripted.test ESMTP\r\n").await?;
    loop {
        let mut line = String::new();
        if plain.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let up = line.trim().to_ascii_uppercase();
        if up.starts_with("EHLO") {
            plain.get_mut().write_all(b"250-scripted.test\r\n250 STARTTLS\r\n").await?;
        } else if up == "STARTTLS" {
            plain.get_mut().write_all(b"220 go ahead\r\n").await?;
            break;
        } else {
            plain.get_mut().write_all(b"530 STARTTLS first\r\n").await?;
        }
    }
    let tls = acceptor.accept(plain.into_inner()).await?;
    dialogue(BufReader::new(tls), seen, script).await
}

async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: BufReader<S>,
    seen: Arc<Mutex<Seen>>,
    script: Arc<Mutex<MailScript>>,
) -> std::io::Result<()> {
    let mut rcpts: Vec<String> = Vec::new();
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let up = cmd.to_ascii_uppercase();
        let reply: String = if up.starts_with("EHLO") {
            "250-scripted.test\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN".into()
        } else if up.starts_with("AUTH") {
            "235 2.7.0 Authentication successful".into()
        } else if up.starts_with("MAIL FROM") {
            rcpts.clear();
            let n = {
                let mut s = seen.lock().unwrap();
                s.mails += 1;
                s.mails
            };
            (script.lock().unwrap())(n).unwrap_or_else(|| "250 2.1.0 Ok".into())
        } else if let Some(r) = up.strip_prefix("RCPT TO:<") {
            let r = r.trim_end_matches('>').to_lowercase();
            // A recipient whose own mailbox was closed: refused with words that also fit a
            // blocked sending account.
            if r.starts_with("closed-") {
                format!("550 5.7.1 <{r}>: Recipient address rejected: account disabled")
            } else {
                rcpts.push(r);
                "250 2.1.5 Ok".into()
            }
        } else if up == "DATA" {
            io.get_mut().write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            loop {
                let mut l = String::new();
                if io.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" {
                    break;
                }
            }
            seen.lock().unwrap().delivered.append(&mut rcpts);
            "250 2.0.0 Ok: queued".into()
        } else if up == "RSET" {
            rcpts.clear();
            "250 2.0.0 Ok".into()
        } else if up == "QUIT" {
            io.get_mut().write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Error: command not recognized".into()
        };
        io.get_mut().write_all(format!("{reply}\r\n").as_bytes()).await?;
        io.get_mut().flush().await?;
    }
}

// ----------------------------------------------------------------------------- tests

/// With `max_per_minute = 10` on [direct] and 50 messages queued, the first pass hands exactly
/// 10 to Postfix and holds the other 40 "until HH:MM", which `status` and `queue list` show. A
/// restart does not reset the count: a held message asked to go now is held again.
#[tokio::test]
async fn ten_per_minute_holds_under_a_queue_of_fifty() {
    let mut h = Harness::new(10587, "max_per_minute = 10", "");
    let tag = h.u.clone();
    let ids: Vec<i64> = (0..50).map(|i| h.enqueue(&[h.rcpt(&format!("n{i}"))], &format!("Rechnung {i}")).id).collect();
    h.start();
    let state = |h: &Harness| {
        let mut sent = Vec::new();
        let mut held = Vec::new();
        for id in &ids {
            let m = h.show(*id);
            match m.status.as_str() {
                "sent" => sent.push(m),
                "queued" if m.waiting.as_deref().is_some_and(|w| w.starts_with("held by rate limit until")) => {
                    held.push(m)
                }
                _ => {}
            }
        }
        (sent, held)
    };
    let (sent, held) = wait_for("10 sent and 40 held", Duration::from_secs(30), || {
        let (s, hd) = state(&h);
        (s.len() + hd.len() == 50).then_some((s, hd))
    })
    .await;
    assert_eq!((sent.len(), held.len()), (10, 40), "exactly ten in the first minute");
    assert!(held.iter().all(|m| m.attempts == 0), "a held message was never handed to the server");
    // Exactly the ten sent reached Postfix.
    let sent_rcpts: Vec<String> = sent.iter().map(|m| m.recipients[0].address.to_lowercase()).collect();
    let got = wait_for("the ten captures", Duration::from_secs(30), || {
        let c = captures_tagged(&tag);
        sent_rcpts.iter().all(|r| c.iter().any(|x| &x.0 == r)).then_some(c)
    })
    .await;
    assert_eq!(got.len(), 10, "nothing but the ten reached Postfix: {got:?}");

    // "held by rate limit until HH:MM", in the office's time zone, in status and queue list.
    let until = held.iter().map(|m| m.due_at).min().unwrap();
    let hhmm = chrono::DateTime::from_timestamp(until, 0)
        .unwrap()
        .with_timezone(&h.app.config.agent.time_zone)
        .format("%H:%M")
        .to_string();
    assert!(until > postbote::store::now(), "held into the future");
    let status = postbote::status::collect(&h.app).await.unwrap().text;
    assert!(status.contains(&format!("40 message(s) held by rate limit until {hhmm}")), "{status}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postbote"))
        .args(["queue", "list", "--limit", "100", "--config"])
        .arg(&h.path)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert_eq!(list.matches(&format!("held by rate limit until {hhmm}")).count(), 40, "{list}");

    // A restart: the count comes from the store. A held message asked to go now is held again.
    h.stop().await;
    h.app = Harness::app_for(&h.path);
    let one = held[0].id;
    let before = postbote::store::now();
    assert!(outbox::retry_now(&h.app, one, "test").unwrap());
    h.start();
    assert!(h.show(one).due_at <= postbote::store::now(), "due now after the retry");
    // Held again means due in the future once more, by the count kept in the store.
    let m = wait_for("the restarted loop to hold it again", Duration::from_secs(15), || {
        let m = h.show(one);
        (m.due_at > postbote::store::now() && m.checked_at.is_some_and(|c| c >= before)).then_some(m)
    })
    .await;
    assert!(m.waiting.as_deref().is_some_and(|w| w.starts_with("held by rate limit until")), "{m:?}");
    assert_eq!((m.status.as_str(), m.attempts), ("queued", 0), "not sent after the restart");
    assert_eq!(captures_tagged(&tag).len(), 10);
    h.stop().await;
}

/// A provider's 451 "too many messages" slows the transport down (its state is stored and
/// shown), the throttled messages wait instead of failing, and the queue drains completely,
/// each recipient exactly once.
#[tokio::test]
async fn throttle_451_slows_the_transport_and_the_queue_still_drains() {
    let server =
        Scripted::start(Box::new(|n| (n == 3 || n == 4).then(|| "451 4.7.1 Too many messages, slow down".to_string())))
            .await;
    let mut h = Harness::new(server.port, "", "");
    let rcpts: Vec<String> = (0..6).map(|i| h.rcpt(&format!("t{i}"))).collect();
    let ids: Vec<i64> = rcpts.iter().map(|r| h.enqueue(std::slice::from_ref(r), "Newsletter").id).collect();
    h.start();
    h.wait_all_sent(&ids, Duration::from_secs(60)).await;
    let mut got = server.delivered();
    got.sort();
    let mut want: Vec<String> = rcpts.iter().map(|r| r.to_lowercase()).collect();
    want.sort();
    assert_eq!(got, want, "every recipient exactly once");
    assert_eq!(server.mails(), 8, "six messages and two throttled attempts, nothing more");

    let throttle = h.app.store.outbox().throttle("transport:direct").unwrap().expect("the transport was slowed down");
    assert!(throttle.reply.contains("Too many messages"), "{throttle:?}");
    assert!(throttle.interval_secs >= 1.0);
    let throttled: Vec<_> = ids
        .iter()
        .filter(|id| {
            let (_, attempts) = h.app.store.outbox().show(**id).unwrap().unwrap();
            attempts.iter().any(|a| a.code == Some(451))
        })
        .collect();
    assert!(!throttled.is_empty(), "a message met the 451");
    for id in &ids {
        let m = h.show(*id);
        assert!(m.recipients.iter().all(|r| r.status == "sent"), "nobody failed: {m:?}");
    }
    let status = postbote::status::collect(&h.app).await.unwrap().text;
    assert!(status.contains("direct slowed down after \"451 4.7.1 Too many messages"), "{status}");
    h.stop().await;
}

/// A provider's 554 "account blocked" pauses the mailbox's sending (nothing more is tried),
/// puts a notice into its INBOX, fails nobody; after `queue retry` everything goes, once.
#[tokio::test]
async fn blocked_account_554_pauses_the_login_with_a_notice_and_loses_nothing() {
    let blocked = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let b2 = blocked.clone();
    let server = Scripted::start(Box::new(move |n| {
        (n == 2 && b2.load(std::sync::atomic::Ordering::SeqCst))
            .then(|| "554 5.7.1 Your account has been blocked".to_string())
    }))
    .await;
    let mut h = Harness::new(server.port, "", "");
    let rcpts: Vec<String> = (0..4).map(|i| h.rcpt(&format!("b{i}"))).collect();
    let ids: Vec<i64> = rcpts.iter().map(|r| h.enqueue(std::slice::from_ref(r), "Rechnung").id).collect();
    h.start();
    let pause = wait_for("the pause", Duration::from_secs(30), || h.app.store.outbox().pause(&h.u).unwrap()).await;
    assert!(pause.reason.contains("blocked the sending account"), "{pause:?}");
    assert!(pause.reason.contains("554 5.7.1 Your account has been blocked"));
    // The loop looks again, and tries nothing while paused.
    let after = postbote::store::now();
    wait_for("the loop to look at the paused mailbox", Duration::from_secs(15), || {
        let m = h.show(ids[3]);
        (m.checked_at.is_some_and(|c| c > after) && m.waiting.as_deref().is_some_and(|w| w.starts_with("paused")))
            .then_some(())
    })
    .await;
    assert_eq!(server.mails(), 2, "no MAIL FROM after the block");
    let states: Vec<String> = ids.iter().map(|id| h.show(*id).status.to_string()).collect();
    assert_eq!(states[0], "sent");
    assert!(states[1..].iter().all(|s| s == "queued" || s == "deferred"), "nothing failed: {states:?}");
    assert!(ids[1..].iter().all(|id| h.show(*id).recipients.iter().all(|r| r.status == "pending")));
    let inbox = h.app.store.messages().list(&h.u, Some("INBOX"), 10).unwrap();
    assert_eq!(
        inbox.iter().filter(|m| m.subject.contains("Sending paused: account blocked")).count(),
        1,
        "one notice in the INBOX"
    );
    let status = postbote::status::collect(&h.app).await.unwrap().text;
    assert!(status.contains("SENDING PAUSED") && status.contains("blocked the sending account"), "{status}");

    // The provider lifts the block; a person says "retry": everything goes, each once.
    blocked.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(outbox::retry_now(&h.app, ids[1], "test").unwrap());
    h.wait_all_sent(&ids, Duration::from_secs(30)).await;
    let mut got = server.delivered();
    got.sort();
    let mut want: Vec<String> = rcpts.iter().map(|r| r.to_lowercase()).collect();
    want.sort();
    assert_eq!(got, want, "every recipient exactly once");
    h.stop().await;
}

/// Regression: a recipient refused at RCPT with "account disabled" (their mailbox was
/// closed) paused the whole mailbox as if the sending account were blocked, and the other
/// recipients and messages waited for a person. It is that recipient's failure only: the
/// rest is delivered, no pause is set, and the next message goes out too.
#[tokio::test]
async fn a_recipient_refused_as_disabled_fails_alone_and_pauses_nothing() {
    let server = Scripted::start(Box::new(|_| None)).await;
    let mut h = Harness::new(server.port, "", "");
    let (closed, open, next) = (h.rcpt("closed-kunde"), h.rcpt("kunde"), h.rcpt("kunde2"));
    let first = h.enqueue(&[closed.clone(), open.clone()], "Angebot").id;
    let second = h.enqueue(std::slice::from_ref(&next), "Rechnung").id;
    h.start();
    h.wait_all_sent(&[first, second], Duration::from_secs(30)).await;
    assert!(h.app.store.outbox().pause(&h.u).unwrap().is_none(), "a recipient's refusal must not pause the mailbox");
    let m = h.show(first);
    let of = |a: &str| m.recipients.iter().find(|r| r.address.eq_ignore_ascii_case(a)).unwrap().status.clone();
    assert_eq!((of(&closed), of(&open)), ("failed".to_string(), "sent".to_string()), "{m:?}");
    let mut got = server.delivered();
    got.sort();
    let mut want = vec![open.to_lowercase(), next.to_lowercase()];
    want.sort();
    assert_eq!(got, want);
    h.stop().await;
}

/// 120 recipients under `max_recipients_per_message = 50` (on the login): three envelopes with
/// the same Message-ID, and each recipient captured by Postfix exactly once.
#[tokio::test]
async fn a_message_to_120_recipients_under_a_50_limit_arrives_once_at_each() {
    let mut h = Harness::new(10587, "", "max_recipients_per_message = 50");
    let tag = h.u.clone();
    let rcpts: Vec<String> = (0..120).map(|i| h.rcpt(&format!("k{i}"))).collect();
    let q = h.enqueue(&rcpts, "Rundschreiben");
    h.start();
    h.wait_all_sent(&[q.id], Duration::from_secs(30)).await;
    let got = wait_for("120 captures", Duration::from_secs(60), || {
        let c = captures_tagged(&tag);
        (c.len() >= 120).then_some(c)
    })
    .await;
    let mut per_rcpt: HashMap<&str, usize> = HashMap::new();
    for c in &got {
        *per_rcpt.entry(c.0.as_str()).or_default() += 1;
    }
    for r in &rcpts {
        assert_eq!(per_rcpt.get(r.to_lowercase().as_str()), Some(&1), "{r} got exactly one copy");
    }
    assert_eq!(got.len(), 120);
    let queue_ids: std::collections::BTreeSet<&str> = got.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(queue_ids.len(), 3, "three envelopes (50, 50, 20)");
    assert!(got.iter().all(|c| c.2 == format!("<{}>", q.message_id)), "one Message-ID for all");
    let m = h.show(q.id);
    assert_eq!(m.recipients.iter().filter(|r| r.status == "sent").count(), 120);
    assert_eq!(m.attempts, 1, "one attempt, three envelopes");
    h.stop().await;
}

/// "421 Too many connections" in the greeting slows the transport down as well; the message
/// waits and is then delivered once.
#[tokio::test]
async fn throttle_in_the_greeting_slows_the_transport_and_the_message_still_goes() {
    let server = Scripted::start(Box::new(|_| None)).await;
    server.seen.lock().unwrap().refuse_greeting =
        Some((1, "421 4.7.0 scripted.test Too many connections from your host, slow down".into()));
    let mut h = Harness::new(server.port, "", "");
    let r = h.rcpt("g");
    let q = h.enqueue(std::slice::from_ref(&r), "Angebot");
    h.start();
    h.wait_all_sent(&[q.id], Duration::from_secs(30)).await;
    assert_eq!(server.delivered(), vec![r.to_lowercase()], "delivered once");
    assert_eq!(server.seen.lock().unwrap().connections, 2, "refused once, then accepted");
    let t = h.app.store.outbox().throttle("transport:direct").unwrap().expect("the transport was slowed down");
    assert!(t.reply.contains("Too many connections"), "{t:?}");
    h.stop().await;
}

/// Regression: a provider that says the account is blocked already in its greeting was taken
/// for a broken server: everything due was deferred by the longest retry interval, with no
/// pause and no notice. The greeting is about the account as much as MAIL FROM is: the
/// mailbox pauses, nothing fails and no envelope is tried.
#[tokio::test]
async fn account_blocked_in_the_greeting_pauses_the_mailbox() {
    let server = Scripted::start(Box::new(|_| None)).await;
    server.seen.lock().unwrap().refuse_greeting = Some((1, "554 5.7.1 Your account has been suspended".into()));
    let mut h = Harness::new(server.port, "", "");
    let r = h.rcpt("g");
    let q = h.enqueue(std::slice::from_ref(&r), "Angebot");
    h.start();
    let pause = wait_for("the pause", Duration::from_secs(30), || h.app.store.outbox().pause(&h.u).unwrap()).await;
    assert!(pause.reason.contains("blocked the sending account"), "{pause:?}");
    let m = h.show(q.id);
    assert!(m.status.is_waiting(), "{m:?}");
    assert!(m.recipients.iter().all(|r| r.status == "pending"), "nobody failed: {m:?}");
    assert_eq!(server.mails(), 0, "no envelope was tried");
    h.stop().await;
}

/// A split message meets the per-minute limit between its envelopes: the envelopes sent are
/// recorded once, the rest of the recipients wait "held by rate limit", nobody gets two copies.
#[tokio::test]
async fn a_split_message_held_between_envelopes_records_each_recipient_once() {
    let mut h = Harness::new(10587, "", "max_per_minute = 2\nmax_recipients_per_message = 2");
    let tag = h.u.clone();
    let rcpts: Vec<String> = (0..5).map(|i| h.rcpt(&format!("s{i}"))).collect();
    let q = h.enqueue(&rcpts, "Rundschreiben");
    h.start();
    let m = wait_for("two envelopes out and the rest held", Duration::from_secs(30), || {
        let m = h.show(q.id);
        (m.status == State::Deferred && m.waiting.as_deref().is_some_and(|w| w.starts_with("held by rate limit until")))
            .then_some(m)
    })
    .await;
    let st: Vec<&str> = m.recipients.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(st.iter().filter(|s| **s == "sent").count(), 4, "{st:?}");
    assert_eq!(st.iter().filter(|s| **s == "pending").count(), 1, "{st:?}");
    let (_, trail) = h.app.store.outbox().show(q.id).unwrap().unwrap();
    for r in m.recipients.iter().filter(|r| r.status == "sent") {
        let rows = trail.iter().filter(|a| a.recipient.as_deref() == Some(r.address.as_str())).count();
        assert_eq!(rows, 1, "one audit line for {}: {trail:?}", r.address);
    }
    let got = wait_for("four captures", Duration::from_secs(30), || {
        let c = captures_tagged(&tag);
        (c.len() >= 4).then_some(c)
    })
    .await;
    assert_eq!(got.len(), 4, "the held recipient got nothing yet: {got:?}");
    h.stop().await;
}
