//! The SMTP submission server against real clients: Python's smtplib and swaks as a phone
//! would speak, the real Postfix as the world the outbox sends to.
//!
//! Each test starts its own daemon with `[submission]` on free loopback ports (STARTTLS and
//! implicit TLS with the stack's certificate), one mailbox on a fresh Dovecot user whose
//! company address is a fresh Postfix login (the direct path, open only while an office
//! session is logged in), and a device token. smtplib runs as a small driver script that
//! takes one JSON command per line and answers with one JSON line, so the test can look into
//! the store between the client's steps (e.g. right after the client read `250`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::jmapd::{self, Daemon, eventually};
use crate::support::{self, ca_file, free_port, stack_dir, wait_captured};

const DRIVER: &str = r#"
import json, smtplib, ssl, sys
ca = sys.argv[1]
s = None
def out(o):
    print(json.dumps(o), flush=True)
for line in sys.stdin:
    c = json.loads(line)
    op = c["op"]
    try:
        if op == "connect":
            ctx = ssl.create_default_context(cafile=ca)
            if c["tls"] == "implicit":
                s = smtplib.SMTP_SSL("localhost", c["port"], context=ctx, timeout=30)
            else:
                s = smtplib.SMTP("localhost", c["port"], timeout=30)
            s.ehlo("phone.test")
            before = dict(s.esmtp_features)
            if c["tls"] == "starttls":
                s.starttls(context=ctx)
                s.ehlo("phone.test")
            out({"ok": True, "before": before, "features": s.esmtp_features})
        elif op == "login":
            s.user, s.password = c["user"], c["token"]
            if c["mech"] == "PLAIN":
                code, _ = s.auth("PLAIN", s.auth_plain)
            else:
                code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
            out({"ok": True, "code": code})
        elif op == "sendmail":
            s.sendmail(c["from"], c["to"], c["msg"].encode())
            out({"ok": True})
        elif op == "raw":
            # MAIL without SIZE, so only the DATA reader can see the size.
            code, text = s.mail(c["from"])
            if code != 250:
                out({"ok": False, "code": code, "text": text.decode()})
                continue
            for r in c["to"]:
                s.rcpt(r)
            code, text = s.data(c["msg"].encode())
            out({"ok": True, "code": code, "text": text.decode()})
        elif op == "cmd":
            code, text = s.docmd(c["line"])
            out({"ok": True, "code": code, "text": text.decode()})
        elif op == "quit":
            s.quit()
            out({"ok": True})
            break
    except smtplib.SMTPResponseException as e:
        out({"ok": False, "code": e.smtp_code, "text": e.smtp_error.decode(errors="replace")})
    except smtplib.SMTPRecipientsRefused as e:
        out({"ok": False, "code": 0, "text": str(e)})
    except smtplib.SMTPServerDisconnected as e:
        out({"ok": False, "code": -1, "text": str(e)})
    except Exception as e:
        out({"ok": False, "code": -2, "text": repr(e)})
"#;

/// One smtplib client, driven a command at a time.
struct Py {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Py {
    fn start(dir: &std::path::Path) -> Py {
        let script = dir.join("smtp_driver.py");
        std::fs::write(&script, DRIVER).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(ca_file())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Py { child, stdin, stdout }
    }

    /// Sends one command and reads its answer (blocking: call through `ask`).
    fn send(&mut self, cmd: &Value) -> Value {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("driver answered {line:?}: {e}"))
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one driver command off the async runtime.
async fn ask(py: Py, cmd: Value) -> (Py, Value) {
    tokio::task::spawn_blocking(move || {
        let mut py = py;
        let v = py.send(&cmd);
        (py, v)
    })
    .await
    .unwrap()
}

struct Setup {
    d: Daemon,
    /// STARTTLS (port 587 style) and implicit TLS (465 style).
    port: u16,
    tls_port: u16,
    /// The mailbox's company address (and its login on Postfix for the direct path).
    address: String,
    device: i64,
    token: String,
}

impl Setup {
    async fn start(tag: &str, max_size: usize) -> Setup {
        Setup::start_idle(tag, max_size, "5m").await
    }

    async fn start_idle(tag: &str, max_size: usize, idle: &str) -> Setup {
        let (user, pw) = support::unique_user(tag);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let address = format!("{tag}{}x{nanos}@bau-firma.test", std::process::id());
        let smtp_pw = format!("smtp{nanos}");
        support::stack(&["add-user", &address, &smtp_pw], None);
        let certs = stack_dir().join("certs");
        let (port, tls_port) = (free_port(), free_port());
        let d = jmapd::Builder::new()
            .section("[outbox]\nretry_schedule = [\"1s\"]\n")
            .section(&format!(
                "[direct]\nhost = \"localhost\"\nport = 10587\ntls = \"starttls\"\nca_file = \"{}\"\nsend_while = \"session\"\n",
                ca_file().display()
            ))
            .section(&format!(
                "[phones]\nhost = \"localhost\"\nmax_connections_per_device = 2\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                certs.join("cert.pem").display(),
                certs.join("key.pem").display()
            ))
            .section(&format!(
                "[submission]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nlisten_tls = \"127.0.0.1:{tls_port}\"\n\
                 max_message_size = {max_size}\nidle_timeout = \"{idle}\"\n"
            ))
            .mailbox(jmapd::Mailbox::new("becker", &user, &pw).address(&address).transport("direct").smtp(&address, &smtp_pw))
            .start()
            .await;
        tokio::task::spawn_blocking(move || {
            support::wait_port(port);
            support::wait_port(tls_port);
        })
        .await
        .unwrap();
        let (token, hash) = postbote::devices::new_token();
        let device = d.app.store.devices().add("becker", "iPhone Becker", &[], &hash).unwrap();
        Setup { d, port, tls_port, address, device, token }
    }

    /// A driver connected with `tls` ("starttls", "implicit", "none") and logged in with `mech`.
    async fn client(&self, tls: &str, mech: Option<&str>) -> (Py, Value) {
        let port = if tls == "implicit" { self.tls_port } else { self.port };
        let (py, hello) = ask(Py::start(self.d.dir.path()), json!({"op": "connect", "port": port, "tls": tls})).await;
        assert_eq!(hello["ok"], true, "{hello}");
        let Some(mech) = mech else { return (py, hello) };
        let (py, r) = ask(py, json!({"op": "login", "mech": mech, "user": "becker", "token": self.token})).await;
        assert_eq!((r["ok"].clone(), r["code"].clone()), (json!(true), json!(235)), "{r}");
        (py, hello)
    }

    fn queued(&self) -> Vec<postbote::store::outbox_list::OutboxSummary> {
        self.d.app.store.outbox().list(Some("becker"), None, 100).unwrap()
    }
}

fn message(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!("From: Becker <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\n{body}\r\n")
}

fn rcpt(local: &str) -> String {
    format!("{local}-{}@kunde.test", support::unique_token())
}

/// STARTTLS and AUTH PLAIN with a token: the message (Bcc by envelope only) is in the outbox
/// when the client has read 250, is held while no office session exists, and goes out with
/// the company envelope once one logs in. AUTH LOGIN over swaks goes the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starttls_plain_auth_queues_before_250_and_sends_after_office_login() {
    let s = Setup::start("subflow", 64 * 1024).await;
    let (py, hello) = s.client("starttls", None).await;
    assert!(hello["before"].get("starttls").is_some(), "{hello}");
    let f = &hello["features"];
    for ext in ["pipelining", "8bitmime", "enhancedstatuscodes", "size", "auth"] {
        assert!(f.get(ext).is_some(), "EHLO lacks {ext}: {f}");
    }
    assert_eq!(f["size"], "65536");
    assert!(f["auth"].as_str().unwrap().contains("PLAIN") && f["auth"].as_str().unwrap().contains("LOGIN"));
    let (py, r) = ask(py, json!({"op": "login", "mech": "PLAIN", "user": "becker", "token": s.token})).await;
    assert_eq!(r["code"], 235, "{r}");

    let (to, bcc) = (rcpt("sub-to"), rcpt("sub-bcc"));
    let msg = message(&s.address, &to, "Angebot vom Handy", "Guten Tag,\r\n.eine Zeile mit Punkt\r\nGruss");
    let (py, r) = ask(py, json!({"op": "sendmail", "from": s.address, "to": [to, bcc], "msg": msg})).await;
    assert_eq!(r["ok"], true, "{r}");
    // The client has read 250: the message is committed, with the envelope's recipients.
    let q = s.queued();
    assert_eq!(q.len(), 1, "not in the outbox when 250 was read");
    assert_eq!((q[0].origin.as_str(), q[0].subject.as_str()), ("phone", "Angebot vom Handy"));
    let mut rcpts: Vec<String> = q[0].recipients.iter().map(|r| r.address.clone()).collect();
    rcpts.sort();
    let mut want = vec![to.clone(), bcc.clone()];
    want.sort();
    assert_eq!(rcpts, want, "the envelope is the truth");
    let id = q[0].id;
    let (_py, r) = ask(py, json!({"op": "quit"})).await;
    assert_eq!(r["ok"], true);

    // AUTH LOGIN with swaks, over STARTTLS.
    let to2 = rcpt("sub-swaks");
    let out = tokio::task::spawn_blocking({
        let (port, token, from, to2) = (s.port, s.token.clone(), s.address.clone(), to2.clone());
        move || swaks(port, &token, &from, &to2)
    })
    .await
    .unwrap();
    assert!(out.contains("250 2.0.0 Queued as"), "{out}");
    assert_eq!(s.queued().len(), 2);

    // Held: the loop looked at it and waits for an office session; nothing reached Postfix.
    eventually(Duration::from_secs(15), "the queue loop to hold the message", || async {
        let (m, _) = s.d.app.store.outbox().show(id).unwrap().unwrap();
        m.waiting.as_deref().is_some_and(|w| w.contains("office session"))
    })
    .await;
    assert!(support::captured_for(&to).is_empty(), "sent while the gate was closed");
    assert_eq!(postbote::outbox::state(&s.d.app, id).unwrap().unwrap().to_string(), "queued");

    postbote::outbox::session_login(&s.d.app, "buero", None).unwrap();
    let all = tokio::task::spawn_blocking(move || {
        let a = wait_captured(&to, 1, Duration::from_secs(20));
        let b = wait_captured(&bcc, 1, Duration::from_secs(20));
        let c = wait_captured(&to2, 1, Duration::from_secs(20));
        (a, b, c)
    })
    .await
    .unwrap();
    for (c, name) in [(&all.0, "To"), (&all.1, "Bcc"), (&all.2, "swaks")] {
        assert_eq!(c.len(), 1, "{name} recipient not captured");
        assert!(c[0].mail_from.eq_ignore_ascii_case(&s.address), "envelope sender {}", c[0].mail_from);
    }
    let raw = String::from_utf8_lossy(&all.0[0].raw);
    assert!(raw.contains("(postbote) with ESMTPSA") && raw.contains("\"iPhone Becker\""), "{raw}");
    // Ours (Postfix adds its own, about the outbox's connection, above it).
    let ours = raw.split("Received: ").find(|f| f.contains("(postbote)")).unwrap();
    let ours = ours.split("\r\n").take(3).collect::<Vec<_>>().join("\r\n");
    assert!(ours.starts_with("from device-"), "{ours}");
    assert!(!ours.contains("127.0.0.1") && !ours.contains("phone.test"), "no address or EHLO of the phone: {ours}");
    assert!(raw.contains("\n.eine Zeile mit Punkt") && !raw.contains("..eine"), "dot-unstuffed once: {raw}");
    assert!(!raw.contains(&s.token), "the token never leaves");
    // Neither a Bcc field nor the blind recipient's address (a random Message-ID may well hold
    // the letters "bcc").
    assert!(!raw.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")) && !raw.contains("sub-bcc"), "{raw}");
    s.d.stop().await;
}

/// swaks submitting one message with AUTH LOGIN over STARTTLS; its whole dialogue.
fn swaks(port: u16, token: &str, from: &str, to: &str) -> String {
    let data = format!("From: {from}\r\nTo: {to}\r\nSubject: swaks vom Handy\r\n\r\nHallo\r\n");
    let mut child = Command::new("swaks")
        .args(["--server", "localhost", "--port", &port.to_string(), "--tls", "--tls-verify", "--tls-ca-path"])
        .arg(ca_file())
        // `=`: a token may start with "-", which swaks would take for an option.
        .args(["--auth", "LOGIN", "--auth-user", "becker", &format!("--auth-password={token}"), "--auth-hide-password"])
        .args(["--from", from, "--to", to, "--data", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swaks runs");
    child.stdin.take().unwrap().write_all(data.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "swaks failed:\n{text}");
    text
}

/// Wrong senders get 553 5.7.1 naming the mailbox; a message over the limit gets 552 (by
/// SIZE at MAIL, and by the DATA reader when the client announces no size), and the next
/// message on the same connection goes through; bad syntax is 5xx and the connection lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_from_553_too_big_552_and_the_connection_survives() {
    let s = Setup::start("subrules", 4096).await;
    let (py, _) = s.client("implicit", Some("LOGIN")).await;
    let to = rcpt("sub-rules");

    let (py, r) = ask(py, json!({"op": "sendmail", "from": "chef@example.test", "to": [to], "msg": "x"})).await;
    assert_eq!(r["code"], 553, "{r}");
    let text = r["text"].as_str().unwrap();
    assert!(text.starts_with("5.7.1 <chef@example.test> is not an address") && text.contains("mailbox becker"), "{r}");

    // Envelope right, header wrong.
    let msg = message("chef@example.test", &to, "falscher Absender", "x");
    let (py, r) = ask(py, json!({"op": "raw", "from": s.address, "to": [to], "msg": msg})).await;
    assert_eq!(r["code"], 553, "{r}");
    assert!(r["text"].as_str().unwrap().contains("From: <chef@example.test>"), "{r}");

    // Regression: two From fields, the bottom one the company's (what a parser kept and DKIM
    // signs), the top one another's (what a mail client shows).
    let two = format!("From: <chef@example.test>\r\n{}", message(&s.address, &to, "zwei Absender", "x"));
    let (py, r) = ask(py, json!({"op": "raw", "from": s.address, "to": [to], "msg": two})).await;
    assert_eq!(r["code"], 550, "{r}");
    assert!(r["text"].as_str().unwrap().starts_with("5.6.0 the message has 2 From fields"), "{r}");
    // A Sender is checked like From; two of them are refused.
    let foreign = format!("Sender: <chef@example.test>\r\n{}", message(&s.address, &to, "fremder Sender", "x"));
    let (py, r) = ask(py, json!({"op": "raw", "from": s.address, "to": [to], "msg": foreign})).await;
    assert_eq!(r["code"], 553, "{r}");
    assert!(r["text"].as_str().unwrap().contains("Sender: <chef@example.test> is not an address"), "{r}");
    let senders = format!("Sender: {0}\r\nSender: {0}\r\n{1}", s.address, message(&s.address, &to, "zwei", "x"));
    let (py, r) = ask(py, json!({"op": "raw", "from": s.address, "to": [to], "msg": senders})).await;
    assert_eq!(r["code"], 550, "{r}");
    assert!(r["text"].as_str().unwrap().contains("2 Sender fields"), "{r}");

    let big = message(&s.address, &to, "zu gross", &"0123456789abcdef\r\n".repeat(400));
    let (py, r) = ask(py, json!({"op": "sendmail", "from": s.address, "to": [to], "msg": big})).await;
    assert_eq!(r["code"], 552, "SIZE= at MAIL: {r}");
    let (py, r) = ask(py, json!({"op": "raw", "from": s.address, "to": [to], "msg": big})).await;
    assert_eq!(r["code"], 552, "the DATA reader's cap: {r}");

    let (py, r) = ask(py, json!({"op": "cmd", "line": "MAIL FROM:<kaputt"})).await;
    assert_eq!(r["code"].as_i64().unwrap() / 100, 5, "{r}");
    let (py, r) = ask(py, json!({"op": "cmd", "line": "BLAH"})).await;
    assert_eq!(r["code"], 500, "{r}");
    let (py, r) = ask(py, json!({"op": "cmd", "line": "VRFY becker"})).await;
    assert_eq!(r["code"], 252, "{r}");
    let (py, r) = ask(py, json!({"op": "cmd", "line": "RSET"})).await;
    assert_eq!(r["code"], 250, "{r}");

    let ok = message(&s.address, &to, "passt", "klein");
    let (py, r) = ask(py, json!({"op": "sendmail", "from": s.address.to_uppercase(), "to": [to], "msg": ok})).await;
    assert_eq!(r["ok"], true, "the next message on the same connection: {r}");
    let q = s.queued();
    assert_eq!(q.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(), ["passt"], "only the good one");
    drop(py);
    for m in q {
        postbote::outbox::cancel(&s.d.app, m.id, "test over").unwrap();
    }
    s.d.stop().await;
}

/// A wrong token is refused (that it is counted, on the budget JMAP shares, is
/// `unauthenticated_connections_are_capped_and_logins_share_one_limiter`: here the revoked
/// token's refusal below must stay 535, not "too many"); AUTH before TLS works on loopback; a device has at
/// most its cap of connections; a revoked device's open connection is closed with 421 and its token no longer logs in; MAIL before
/// AUTH is 530.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoked_token_is_refused_and_its_open_connection_closed() {
    let s = Setup::start("subrevoke", 64 * 1024).await;
    let (py, hello) = s.client("none", None).await;
    assert!(hello["features"].get("auth").is_some(), "AUTH before TLS on loopback: {hello}");
    let (py, r) = ask(py, json!({"op": "cmd", "line": format!("MAIL FROM:<{}>", s.address)})).await;
    assert_eq!((r["code"].clone(), r["text"].as_str().unwrap().starts_with("5.7.0")), (json!(530), true), "{r}");
    let (py, r) = ask(py, json!({"op": "login", "mech": "PLAIN", "user": "becker", "token": "falsch"})).await;
    assert_eq!(r["code"], 535, "{r}");
    let (py, r) = ask(py, json!({"op": "login", "mech": "PLAIN", "user": "becker", "token": s.token})).await;
    assert_eq!(r["code"], 235, "{r}");
    assert_eq!(s.d.app.live.counts(), vec![(postbote::devices::Protocol::Smtp, 1, 1)]);
    // The per-device cap (2 here): a third connection of the same device is turned away.
    let (second, _) = s.client("implicit", Some("PLAIN")).await;
    let (third, _) = s.client("starttls", None).await;
    let (_third, r) = ask(third, json!({"op": "login", "mech": "PLAIN", "user": "becker", "token": s.token})).await;
    assert_eq!(r["code"], 454, "{r}");
    assert!(r["text"].as_str().unwrap().contains("already has 2 open connections; try again later"), "{r}");
    drop(second);

    assert!(s.d.app.store.devices().revoke(s.device).unwrap());
    // The revocation watch ends the connection within a second or two; the client's next
    // command meets the 421 (or the closed socket).
    let mut py = py;
    let mut closed = false;
    for _ in 0..40 {
        let (p, r) = ask(py, json!({"op": "cmd", "line": "NOOP"})).await;
        py = p;
        if r["code"] == 421 || r["code"] == -1 {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the revoked device's connection stays open");
    drop(py);
    let (py, _) = s.client("starttls", None).await;
    let (_py, r) = ask(py, json!({"op": "login", "mech": "LOGIN", "user": "becker", "token": s.token})).await;
    assert_eq!(r["code"], 535, "a revoked token is refused: {r}");
    s.d.stop().await;
}

/// The daemon's shutdown reaches an idle, logged-in connection at once: 421, then the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_answers_421_and_closes() {
    use base64::Engine;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let s = Setup::start("subshutdown", 64 * 1024).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let mut c = tokio::io::BufReader::new(tcp);
    assert!(read_reply(&mut c).await.starts_with("220 "));
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0becker\0{}", s.token));
    // Pipelined: EHLO and AUTH in one write.
    c.get_mut().write_all(format!("EHLO phone.test\r\nAUTH PLAIN {plain}\r\n").as_bytes()).await.unwrap();
    let ehlo = read_reply(&mut c).await;
    assert!(ehlo.starts_with("250-localhost postbote\r\n"), "{ehlo:?}");
    for ext in ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 65536", "STARTTLS"] {
        assert!(ehlo.contains(&format!("250-{ext}\r\n")) || ehlo.contains(&format!("250 {ext}\r\n")), "{ehlo:?}");
    }
    assert!(read_reply(&mut c).await.starts_with("235 2.7.0"));
    s.d.stop().await;
    let r = read_reply(&mut c).await;
    assert!(r.starts_with("421 4.3.2"), "{r:?}");
    let mut rest = String::new();
    assert_eq!(c.read_line(&mut rest).await.unwrap(), 0, "closed after the 421");
}

/// A connection that says nothing for `idle_timeout` is told so and closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_connection_is_closed_with_421() {
    use tokio::io::AsyncBufReadExt;
    let s = Setup::start_idle("subidle", 64 * 1024, "10s").await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let mut c = tokio::io::BufReader::new(tcp);
    let started = std::time::Instant::now();
    let mut line = String::new();
    c.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220 "), "{line:?}");
    line.clear();
    tokio::time::timeout(Duration::from_secs(30), c.read_line(&mut line)).await.unwrap().unwrap();
    assert!(line.starts_with("421 4.4.2"), "{line:?}");
    assert!(started.elapsed() >= Duration::from_secs(9), "closed after {:?}", started.elapsed());
    line.clear();
    assert_eq!(c.read_line(&mut line).await.unwrap(), 0, "closed after the 421");
    s.d.stop().await;
}

/// The last line of one reply (a line whose fourth byte is a space), all its lines.
async fn read_reply(c: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), c.read_line(&mut line)).await.unwrap().unwrap();
        all.push_str(&line);
        if n == 0 || line.as_bytes().get(3) == Some(&b' ') {
            return all;
        }
    }
}

/// Regression: a reply was written with a bare `write_all`, so a client that pipelines
/// commands and never reads the replies held its connection, and the daemon's shutdown,
/// forever. Every write is now bounded by the shutdown (and the idle timeout, revocation).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_never_reads_does_not_hold_up_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Setup::start("subnoread", 64 * 1024).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    // A small receive window, so the server's replies pile up soon.
    sock.set_recv_buffer_size(4096).unwrap();
    let mut tcp = sock.connect(([127, 0, 0, 1], s.port).into()).await.unwrap();
    let noops = "NOOP\r\n".repeat(10_000);
    // Write until the server stops reading (its replies are stuck), at most 2000 rounds.
    let mut stuck = false;
    for _ in 0..2000 {
        match tokio::time::timeout(Duration::from_secs(2), tcp.write_all(noops.as_bytes())).await {
            Ok(r) => r.unwrap(),
            Err(_) => {
                stuck = true;
                break;
            }
        }
    }
    assert!(stuck, "the server never stopped reading");
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(30), s.d.stop()).await.expect("the daemon's shutdown finishes");
    assert!(started.elapsed() < Duration::from_secs(10), "shutdown took {:?}", started.elapsed());
    // The connection is closed: what was written before can be read, then the end (or a reset).
    let mut buf = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection is still open");
}

/// Connections without a login are capped per client address over both ports: the next is
/// answered 421 4.7.0 and closed, and a login gives its place back. AUTH PLAIN's authzid may
/// name the device's own mailbox in any case or by address; another one is 535. AUTH LOGIN
/// with an undecodable user line is 501 "cannot decode". Wrong tokens count on one budget
/// with JMAP: after wrong Bearer tokens, a few wrong ones here get 454 "try again later",
/// and the right token still gets 235.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_connections_are_capped_and_logins_share_one_limiter() {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let s = Setup::start("subcap", 64 * 1024).await;
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
        let mut c = tokio::io::BufReader::new(tcp);
        let hello = read_reply(&mut c).await;
        (c, hello)
    };
    let mut open = Vec::new();
    for i in 0..postbote::submission::MAX_UNAUTHED_PER_ADDR {
        let (c, hello) = connect().await;
        assert!(hello.starts_with("220 "), "connection {i}: {hello:?}");
        open.push(c);
    }
    let (mut over, hello) = connect().await;
    assert!(hello.starts_with("421 4.7.0"), "{hello:?}");
    let mut rest = String::new();
    assert_eq!(tokio::io::AsyncBufReadExt::read_line(&mut over, &mut rest).await.unwrap(), 0, "closed after 421");
    // The implicit-TLS port counts on the same budget: closed at once.
    let mut tls = tokio::net::TcpStream::connect(("127.0.0.1", s.tls_port)).await.unwrap();
    let mut b = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut b)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the implicit-TLS port closes too");

    // An authzid naming the own mailbox by address, in another case: in, and a place is free.
    let c = &mut open[0];
    let line = format!("AUTH PLAIN {}\r\n", b64(&format!("{}\0becker\0{}", s.address.to_uppercase(), s.token)));
    c.get_mut().write_all(line.as_bytes()).await.unwrap();
    assert!(read_reply(c).await.starts_with("235 2.7.0"));
    let (mut fresh, hello) = connect().await;
    assert!(hello.starts_with("220 "), "a login frees its place: {hello:?}");
    // Another mailbox as authzid: 535, not 501.
    let line = format!("AUTH PLAIN {}\r\n", b64(&format!("info\0becker\0{}", s.token)));
    fresh.get_mut().write_all(line.as_bytes()).await.unwrap();
    let r = read_reply(&mut fresh).await;
    assert!(r.starts_with("535 5.7.8"), "{r:?}");
    // AUTH LOGIN, a user line that is not base64: cannot decode (not "cancelled").
    fresh.get_mut().write_all(b"AUTH LOGIN\r\n").await.unwrap();
    assert!(read_reply(&mut fresh).await.starts_with("334 "));
    fresh.get_mut().write_all(b"!!kein base64!!\r\n").await.unwrap();
    let r = read_reply(&mut fresh).await;
    assert!(r.starts_with("501 5.5.2 Cannot decode"), "{r:?}");
    // A user line over the length limit: the same.
    fresh.get_mut().write_all(b"AUTH LOGIN\r\n").await.unwrap();
    assert!(read_reply(&mut fresh).await.starts_with("334 "));
    fresh.get_mut().write_all(format!("{}\r\n", "QUFB".repeat(2000)).as_bytes()).await.unwrap();
    let r = read_reply(&mut fresh).await;
    assert!(r.starts_with("501 5.5.2 Cannot decode"), "{r:?}");
    drop(fresh);
    drop(open);

    // Wrong Bearer tokens on JMAP count against this address for SMTP too.
    for i in 0..6 {
        let (status, _, _) = s.d.authed("GET", "/jmap/session", &format!("falsch{i}"), None, b"").await;
        assert_eq!(status, 401, "wrong token {i} on JMAP");
    }
    let mut tries = 0;
    let last = loop {
        tries += 1;
        assert!(tries <= 6, "wrong SMTP tokens are not counted with JMAP's");
        let (mut c, hello) = connect().await;
        assert!(hello.starts_with("220 "), "{hello:?}");
        let line = format!("AUTH PLAIN {}\r\n", b64(&format!("\0becker\0falsch{tries}")));
        c.get_mut().write_all(line.as_bytes()).await.unwrap();
        let r = read_reply(&mut c).await;
        if !r.starts_with("535 ") {
            break r;
        }
    };
    assert!(last.starts_with("454 4.7.0 Too many failed logins; try again later"), "{last:?}");
    let (mut c, _) = connect().await;
    let line = format!("AUTH PLAIN {}\r\n", b64(&format!("\0becker\0{}", s.token)));
    c.get_mut().write_all(line.as_bytes()).await.unwrap();
    assert!(read_reply(&mut c).await.starts_with("235 2.7.0"), "the right token is never locked out");
    drop(c);
    s.d.stop().await;
}
