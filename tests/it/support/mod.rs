//! Test support: the real local mail stack that `scripts/stack` runs on loopback, seen from a
//! test. It starts the stack once per test process ([`ensure_stack`]), makes fresh Dovecot
//! users so parallel tests never share a mailbox ([`unique_user`]), delivers mail into the
//! hosted mailboxes ([`deliver`]), reads what Postfix captured for the outside world
//! ([`captured_for`], [`wait_captured`]), and speaks just enough IMAP ([`RawImap`]) and
//! SMTP ([`RawSmtp`]) to act "on the server side" of a test.
//!
//! The stack (see `scripts/stack` for the whole story):
//! - Dovecot is the vendor's hosted server `handwerk.test`: IMAP 10143 (STARTTLS; plain LOGIN
//!   is allowed on loopback), IMAPS 10993, LMTP 10024. A spare Dovecot on the same users and
//!   mail (IMAP 11143, IMAPS 11993) is started on demand for the tests that restart the
//!   server ([`spare_dovecot`]).
//! - Postfix: SMTP 10025 (no AUTH, relays for loopback), submission 10587 (STARTTLS, then AUTH
//!   required), submissions 10465 (implicit TLS + AUTH). `@handwerk.test` goes into Dovecot;
//!   every other recipient is captured, one `.eml` + `.env` file pair per recipient.
//! - Scripted answers by recipient local part: `reject*` 550 and `full*` 552 and `tempfail*`
//!   451 at RCPT; `greylist*` 450 on the first attempt for that recipient, accepted from one
//!   second later on; after queueing `bounce*` bounces (DSN to the sender) and `defer*` stays queued.
//! - Cyrus IMAP 3.6 is a second hosted server with the same users and passwords (not the same
//!   mail): IMAP 12143 (STARTTLS; plain LOGIN allowed), IMAPS 12993. [`Server`] speaks for
//!   either server on the server side of a mirror test.
//! - unbound answers DNS on 5353 for the zones in `scripts/dns/zones/`.
//! - TLS uses one self-signed certificate ([`ca_file`]) for localhost, 127.0.0.1, ::1 and
//!   mail.handwerk.test: trust that file as the only CA.
//!
//! Everything here is blocking std code; call it from async tests freely (it is quick), or
//! through `tokio::task::spawn_blocking` when it waits (e.g. [`wait_captured`]).
//! Helpers panic with a message saying what failed: a test that cannot set up has failed.
#![allow(dead_code)]

pub mod browser;
pub mod console;
pub mod imapd;
pub mod jmapd;
#[cfg(test)]
mod selftest;
mod servers;

#[allow(unused_imports)]
pub use servers::{CYRUS_IMAP_PORT, CYRUS_IMAPS_PORT, Server, doveadm, password_of};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const HOST: &str = "127.0.0.1";
/// Dovecot IMAP with STARTTLS (plain LOGIN before STARTTLS is allowed on loopback).
pub const IMAP_PORT: u16 = 10143;
/// Dovecot IMAP over implicit TLS.
pub const IMAPS_PORT: u16 = 10993;
/// Dovecot LMTP: delivers into `@handwerk.test` mailboxes.
pub const LMTP_PORT: u16 = 10024;
/// Postfix SMTP without AUTH; relays anything from loopback.
pub const SMTP_PORT: u16 = 10025;
/// Postfix submission: STARTTLS required, then AUTH required.
pub const SUBMISSION_PORT: u16 = 10587;
/// Postfix submissions: implicit TLS, AUTH required.
pub const SUBMISSIONS_PORT: u16 = 10465;
/// unbound (UDP and TCP).
pub const DNS_PORT: u16 = 5353;

/// The vendor's hosted domain: Dovecot holds its mailboxes.
pub const HOSTED_DOMAIN: &str = "handwerk.test";
/// The sample company's domain.
pub const COMPANY_DOMAIN: &str = "bau-firma.test";

/// A login on the stack: address and password.
#[derive(Debug, Clone, Copy)]
pub struct Login {
    pub address: &'static str,
    pub password: &'static str,
}
/// Becker's hosted mailbox (IMAP, and AUTH on submission: the relay path).
pub const BECKER: Login = Login { address: "becker.bau-firma@handwerk.test", password: "becker-pw" };
/// The shared INFO mailbox on the hosted server.
pub const INFO: Login = Login { address: "info.bau-firma@handwerk.test", password: "info-pw" };
/// Becker's login on the company's own outgoing server (the direct path; SMTP AUTH only).
pub const BECKER_SMTP: Login = Login { address: "becker@bau-firma.test", password: "becker-smtp-pw" };
/// INFO's login on the company's own outgoing server (SMTP AUTH only).
pub const INFO_SMTP: Login = Login { address: "info@bau-firma.test", password: "info-smtp-pw" };

const STEP: Duration = Duration::from_millis(20);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------ the stack

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$POSTBOTE_STACK_DIR`, or `<repo>/.stack`, as `scripts/stack` uses it.
pub fn stack_dir() -> PathBuf {
    match std::env::var_os("POSTBOTE_STACK_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { repo_root().join(d) }
        }
        _ => repo_root().join(".stack"),
    }
}

/// The self-signed certificate every TLS port presents; trust it as the only CA.
pub fn ca_file() -> PathBuf {
    stack_dir().join("certs/cert.pem")
}

/// Where Postfix captures mail for recipients outside handwerk.test.
pub fn capture_dir() -> PathBuf {
    stack_dir().join("postfix/captured")
}

/// Runs `scripts/stack ARGS` (stdin from `input`) and returns its output; panics with the
/// output when it fails.
pub fn stack(args: &[&str], input: Option<&[u8]>) -> Output {
    let script = repo_root().join("scripts/stack");
    let mut cmd = Command::new(&script);
    cmd.args(args)
        .env("POSTBOTE_STACK_DIR", stack_dir())
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // a failing script may close stdin early; its exit status tells the story
        let _ = stdin.write_all(data);
    }
    let out = child.wait_with_output().expect("waiting for scripts/stack");
    if !out.status.success() {
        panic!(
            "scripts/stack {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Starts the mail stack once per test process (`scripts/stack up`, which returns at once
/// when it is already up). Every helper here calls it; tests that only use ports call it first.
pub fn ensure_stack() {
    static UP: OnceLock<Result<(), String>> = OnceLock::new();
    let result = UP.get_or_init(|| {
        std::panic::catch_unwind(|| {
            stack(&["up"], None);
        })
        .map_err(|e| e.downcast_ref::<String>().cloned().unwrap_or_else(|| "scripts/stack up panicked".into()))
    });
    if let Err(e) = result {
        panic!("the mail stack is not available: {e}");
    }
}

/// IMAPS port of the stack's spare Dovecot: the same users and mail as the main one, for the
/// tests that restart the server under a client without cutting every other test's sessions.
pub const SPARE_IMAPS: u16 = 11993;

/// `scripts/stack spare-dovecot ACTION` (start | restart | stop). A restart ends every session
/// of the spare instance, as a service manager's restart does; the main Dovecot is untouched.
pub fn spare_dovecot(action: &str) {
    ensure_stack();
    stack(&["spare-dovecot", action], None);
}

/// Polls until 127.0.0.1:`port` accepts a connection; panics after 20 s.
pub fn wait_port(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("nothing listens on 127.0.0.1:{port} after 20 s (is the mail stack up? scripts/stack status)");
        }
        std::thread::sleep(STEP);
    }
}

/// A loopback TCP port for a listener a test starts (JMAP, control endpoint). Never the same
/// port twice in this process, and below the kernel's ephemeral range (32768 and up), so
/// neither another test's listener nor an outgoing connection's local port can take it
/// between this call and the daemon's bind. Each candidate is checked by binding it.
pub fn free_port() -> u16 {
    use std::sync::atomic::AtomicU16;
    // Start at a pid-dependent place so two test processes on one machine rarely meet.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ =
        NEXT.compare_exchange(0, 20_000 + (std::process::id() % 1_000) as u16 * 10, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "no free loopback port left below the ephemeral range");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

// ------------------------------------------------------------------ users and mail

/// A token unique to this call across parallel tests and test processes: pid, a counter and
/// the time in microseconds.
pub fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    format!("{}.{n}.{}", std::process::id(), micros % 1_000_000_000_000)
}

/// Creates a fresh hosted mailbox `PREFIX.<unique>@handwerk.test` and returns its address and
/// password. The prefix is lowercased and reduced to letters, digits, `.`, `_` and `-`.
pub fn unique_user(prefix: &str) -> (String, String) {
    ensure_stack();
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    let token = unique_token();
    let address = format!("{prefix}.{token}@{HOSTED_DOMAIN}");
    let password = format!("pw-{}", token.replace('.', "-"));
    stack(&["add-user", &address, &password], None);
    (address, password)
}

/// Delivers `raw` (an RFC 5322 message) into `address`'s INBOX; it is there when this returns.
pub fn deliver(address: &str, raw: &[u8]) {
    deliver_to_folder(address, "INBOX", raw);
}

/// Delivers `raw` into `folder` of `address` (created if missing; UTF-8 name, `/` separated).
pub fn deliver_to_folder(address: &str, folder: &str, raw: &[u8]) {
    ensure_stack();
    stack(&["deliver", address, folder], Some(raw));
}

/// The Subject of every message in `folder` of the Dovecot user `user`, as doveadm shows it.
pub fn server_subjects(user: &str, folder: &str) -> Vec<String> {
    let out = doveadm(&["-f", "tab", "fetch", "-u", user, "hdr.subject", "mailbox", folder, "all"]);
    out.lines().skip(1).map(|l| l.trim().to_string()).collect()
}

/// One message Postfix captured for a recipient outside handwerk.test.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Envelope sender (empty for bounces).
    pub mail_from: String,
    /// Envelope recipient (one per capture).
    pub rcpt_to: String,
    /// The SASL login the message was submitted with, empty without AUTH.
    pub sasl_username: String,
    pub queue_id: String,
    /// The message as Postfix queued it (with its Received header; LF line ends).
    pub raw: Vec<u8>,
    /// The `.eml` file.
    pub path: PathBuf,
}

/// Every captured message for `rcpt` (compared case-insensitively), oldest first.
pub fn captured_for(rcpt: &str) -> Vec<Captured> {
    let dir = capture_dir();
    let mut envs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "env"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    // names start with the capture time (seconds.nanoseconds, same width for centuries)
    envs.sort();
    envs.into_iter().filter_map(|env| read_capture(&env, rcpt)).collect()
}

fn read_capture(env: &Path, rcpt: &str) -> Option<Captured> {
    // the .env file appears last (capture.sh renames it after the .eml), so it is complete
    let text = std::fs::read_to_string(env).ok()?;
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix('='))).unwrap_or("").to_string()
    };
    let rcpt_to = field("rcpt_to");
    if !rcpt_to.eq_ignore_ascii_case(rcpt) {
        return None;
    }
    let path = env.with_extension("eml");
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Some(Captured {
        mail_from: field("mail_from"),
        rcpt_to,
        sasl_username: field("sasl_username"),
        queue_id: field("queue_id"),
        raw,
        path,
    })
}

/// Polls (every 50 ms) until at least `n` messages are captured for `rcpt` or `timeout` has
/// passed, and returns what is there then: assert on its length.
pub fn wait_captured(rcpt: &str, n: usize, timeout: Duration) -> Vec<Captured> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = captured_for(rcpt);
        if found.len() >= n || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Submits `raw` with swaks over TLS and AUTH: STARTTLS on [`SUBMISSION_PORT`], implicit TLS
/// on [`SUBMISSIONS_PORT`]; the certificate is verified against [`ca_file`]. Returns swaks'
/// output (the whole SMTP dialogue); panics when swaks fails.
pub fn swaks_submit(port: u16, login: &str, password: &str, from: &str, to: &[&str], raw: &[u8]) -> String {
    ensure_stack();
    let tls = if port == SUBMISSIONS_PORT { "--tlsc" } else { "--tls" };
    let ca = ca_file();
    let to = to.join(",");
    let mut child = Command::new("swaks")
        .args(["--server", HOST, "--port", &port.to_string(), tls, "--tls-verify", "--tls-ca-path"])
        .arg(&ca)
        .args(["--auth", "PLAIN", "--auth-user", login, "--auth-password", password])
        .args(["--from", from, "--to", &to, "--data", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run swaks (scripts/install installs it)");
    child.stdin.take().expect("stdin").write_all(raw).expect("writing to swaks");
    let out = child.wait_with_output().expect("waiting for swaks");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        panic!("swaks to port {port} failed ({}):\n{text}", out.status);
    }
    text
}

// ------------------------------------------------------------------ IMAP, server side

/// A minimal blocking IMAP client for the server side of tests: plain LOGIN on
/// 127.0.0.1:10143 (Dovecot allows it on loopback), then tagged commands. Responses are
/// read up to the tagged status line, literals (`{n}`) included.
pub struct RawImap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

/// Quotes `s` as an IMAP quoted string. Folder names beyond ASCII need modified UTF-7 first.
pub fn imap_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl RawImap {
    /// Connects to 127.0.0.1:10143 and reads the greeting.
    pub fn connect() -> Self {
        Self::connect_to(IMAP_PORT)
    }

    /// Connects to 127.0.0.1:`port` (an IMAP port without TLS) and reads the greeting.
    pub fn connect_to(port: u16) -> Self {
        ensure_stack();
        let stream = TcpStream::connect((HOST, port)).unwrap_or_else(|e| panic!("connecting to 127.0.0.1:{port}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        let writer = stream.try_clone().expect("cloning the socket");
        let mut imap = RawImap { reader: BufReader::new(stream), writer, tag: 0 };
        let greeting = imap.read_line();
        assert!(greeting.starts_with("* OK"), "unexpected IMAP greeting: {greeting}");
        imap
    }

    /// Connects and logs in; panics when the login fails.
    pub fn login(user: &str, password: &str) -> Self {
        Self::login_on(IMAP_PORT, user, password)
    }

    /// Connects to 127.0.0.1:`port` and logs in; panics when the login fails.
    pub fn login_on(port: u16, user: &str, password: &str) -> Self {
        let mut imap = Self::connect_to(port);
        imap.command(&format!("LOGIN {} {}", imap_quote(user), imap_quote(password)));
        imap
    }

    /// SELECTs `folder` and returns its message count (EXISTS).
    pub fn select(&mut self, folder: &str) -> u32 {
        let resp = self.command(&format!("SELECT {}", imap_quote(folder)));
        resp.lines()
            .find_map(|l| l.strip_prefix("* ").and_then(|r| r.strip_suffix(" EXISTS")).and_then(|n| n.parse().ok()))
            .unwrap_or_else(|| panic!("no EXISTS in the SELECT response:\n{resp}"))
    }

    /// Sends one command (without tag or CRLF) and returns the whole response, the tagged
    /// line included; panics on NO or BAD.
    pub fn command(&mut self, cmd: &str) -> String {
        match self.try_command(cmd) {
            Ok(resp) => resp,
            Err(resp) => panic!("IMAP command `{}` failed:\n{resp}", redact_login(cmd)),
        }
    }

    /// Like [`RawImap::command`], but a NO or BAD answer is returned as `Err(response)`.
    pub fn try_command(&mut self, cmd: &str) -> Result<String, String> {
        let tag = self.next_tag();
        self.send(format!("{tag} {cmd}\r\n").as_bytes());
        self.read_response(&tag)
    }

    /// UID SEARCH `criteria` (e.g. `ALL`, `UNSEEN`, `HEADER Message-ID "<x@y>"`).
    pub fn uid_search(&mut self, criteria: &str) -> Vec<u32> {
        let resp = self.command(&format!("UID SEARCH {criteria}"));
        resp.lines()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|rest| rest.split_whitespace().filter_map(|n| n.parse().ok()).collect::<Vec<u32>>())
            .collect()
    }

    /// APPENDs `raw` to `folder` with `flags` (e.g. `\Seen`, or empty) and returns the new
    /// UID (from APPENDUID).
    pub fn append(&mut self, folder: &str, flags: &str, raw: &[u8]) -> u32 {
        let tag = self.next_tag();
        // LITERAL+ (Dovecot and Cyrus offer it): no need to wait for the continuation request
        let mut cmd = format!("{tag} APPEND {} ({flags}) {{{}+}}\r\n", imap_quote(folder), raw.len()).into_bytes();
        cmd.extend_from_slice(raw);
        cmd.extend_from_slice(b"\r\n");
        self.send(&cmd);
        let resp = self.read_response(&tag).unwrap_or_else(|r| panic!("APPEND to {folder} failed:\n{r}"));
        resp.split("[APPENDUID ")
            .nth(1)
            .and_then(|r| r.split([' ', ']']).nth(1))
            .and_then(|uid| uid.parse().ok())
            .unwrap_or_else(|| panic!("no APPENDUID in:\n{resp}"))
    }

    /// Logs out (the server closes the connection).
    pub fn logout(mut self) {
        let _ = self.try_command("LOGOUT");
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("T{}", self.tag)
    }

    fn send(&mut self, data: &[u8]) {
        self.writer.write_all(data).expect("writing to the IMAP server");
    }

    fn read_line(&mut self) -> String {
        let mut buf = Vec::new();
        self.read_raw_line(&mut buf);
        String::from_utf8_lossy(&buf).trim_end().to_string()
    }

    fn read_raw_line(&mut self, buf: &mut Vec<u8>) {
        let n = self.reader.read_until(b'\n', buf).expect("reading from the IMAP server");
        assert!(n > 0, "the IMAP server closed the connection; so far:\n{}", String::from_utf8_lossy(buf));
    }

    /// Reads responses up to the line tagged `tag`; a line ending in a literal `{n}` goes on
    /// after the n bytes. Ok for OK, Err for NO/BAD; both carry the whole text.
    fn read_response(&mut self, tag: &str) -> Result<String, String> {
        let mut all = Vec::new();
        loop {
            let start = all.len();
            loop {
                self.read_raw_line(&mut all);
                match literal_len(&all[start..]) {
                    Some(n) => {
                        let at = all.len();
                        all.resize(at + n, 0);
                        self.reader.read_exact(&mut all[at..]).expect("reading an IMAP literal");
                    }
                    None => break,
                }
            }
            let line = String::from_utf8_lossy(&all[start..]).to_string();
            if let Some(status) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                let text = String::from_utf8_lossy(&all).to_string();
                return if status.starts_with("OK") { Ok(text) } else { Err(text) };
            }
        }
    }
}

/// The byte count of a literal that ends `line` (`{123}\r\n` or `{123+}\r\n`), if any.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n").or_else(|| line.strip_suffix(b"\n"))?;
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn redact_login(cmd: &str) -> String {
    if cmd.to_ascii_uppercase().starts_with("LOGIN ") { "LOGIN <redacted>".into() } else { cmd.to_string() }
}

// ------------------------------------------------------------------ SMTP, plain

/// A minimal blocking SMTP client without TLS, for Postfix's port 10025 (no AUTH; relays
/// for loopback): enough to see the scripted RCPT answers and to inject mail.
pub struct RawSmtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawSmtp {
    /// Connects to 127.0.0.1:`port`, reads the greeting and sends EHLO.
    pub fn connect(port: u16) -> Self {
        ensure_stack();
        let stream = TcpStream::connect((HOST, port)).unwrap_or_else(|e| panic!("connecting to 127.0.0.1:{port}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        let writer = stream.try_clone().expect("cloning the socket");
        let mut smtp = RawSmtp { reader: BufReader::new(stream), writer };
        let (code, text) = smtp.reply();
        assert_eq!(code, 220, "unexpected SMTP greeting: {text}");
        let (code, text) = smtp.command("EHLO test.postbote.test");
        assert_eq!(code, 250, "EHLO refused: {text}");
        smtp
    }

    /// Sends one command line (without CRLF) and returns the reply code and its text.
    pub fn command(&mut self, line: &str) -> (u16, String) {
        self.writer.write_all(format!("{line}\r\n").as_bytes()).expect("writing to the SMTP server");
        self.reply()
    }

    pub fn mail_from(&mut self, address: &str) -> (u16, String) {
        self.command(&format!("MAIL FROM:<{address}>"))
    }

    pub fn rcpt_to(&mut self, address: &str) -> (u16, String) {
        self.command(&format!("RCPT TO:<{address}>"))
    }

    /// DATA with `raw` (line ends made CRLF and dot-stuffed here); returns the final reply.
    pub fn data(&mut self, raw: &[u8]) -> (u16, String) {
        let (code, text) = self.command("DATA");
        if code != 354 {
            return (code, text);
        }
        let mut body = Vec::with_capacity(raw.len() + raw.len() / 40 + 16);
        for line in raw.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                body.push(b'.');
            }
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b".\r\n");
        self.writer.write_all(&body).expect("writing the message");
        self.reply()
    }

    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }

    fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("reading an SMTP reply");
            assert!(n > 0, "the SMTP server closed the connection; so far: {text}");
            text.push_str(&line);
            // "250-more" continues, "250 last" ends the reply
            if line.as_bytes().get(3) != Some(&b'-') {
                let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                return (code, text.trim_end().to_string());
            }
        }
    }
}

/// Sends `raw` from `from` to `to` through Postfix's plain port 10025 and returns the queue
/// reply; panics unless every step is accepted.
pub fn smtp_send(from: &str, to: &[&str], raw: &[u8]) -> String {
    let mut smtp = RawSmtp::connect(SMTP_PORT);
    let (code, text) = smtp.mail_from(from);
    assert_eq!(code, 250, "MAIL FROM:<{from}> refused: {text}");
    for rcpt in to {
        let (code, text) = smtp.rcpt_to(rcpt);
        assert_eq!(code, 250, "RCPT TO:<{rcpt}> refused: {text}");
    }
    let (code, text) = smtp.data(raw);
    assert_eq!(code, 250, "message refused: {text}");
    smtp.quit();
    text
}
