//! The control endpoint of the real daemon binary (`postbote run`, started under umask 022):
//! who may open the office-session gate, for how long, and what is kept of it.
//!
//! Each test has its own data directory, control port or socket and Dovecot user. Requests an
//! attacker would make are written by hand over TCP (a browser's Origin, a rebinding Host, no
//! token, a wrong one); the office's own use goes through the `postbote` command line, which
//! reads the token itself. The Unix socket test runs `curl` as `nobody` through `setpriv`.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_postbote");

/// Runs `postbote ARGS` with umask 022, as the daemon's own user would from a login shell.
fn postbote_022(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", "umask 022 && exec \"$0\" \"$@\"", BIN]).args(args);
    c
}

/// The mode the daemon gives a shared file: with the group `postbote` it may be shared with
/// the group, without it the owner alone.
fn expected_mode(shared: u32, private: u32) -> u32 {
    let group = Command::new("getent").args(["group", "postbote"]).output().is_ok_and(|o| o.status.success());
    if group { shared } else { private }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

struct Office {
    dir: tempfile::TempDir,
    config: PathBuf,
    port: u16,
    socket: Option<PathBuf>,
    daemon: Option<Child>,
}

impl Office {
    /// Write a config (one mailbox on the stack, relay transport, no JMAP) and run `init`.
    fn prepare(unix: bool) -> Office {
        support::ensure_stack();
        let dir = tempfile::tempdir().unwrap();
        // Other users may reach the files in here; only the modes postbote sets keep them out.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (user, pw) = support::unique_user("ctl");
        std::fs::write(dir.path().join("imap.pw"), format!("{pw}\n")).unwrap();
        std::fs::set_permissions(dir.path().join("imap.pw"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let port = free_port();
        let socket = unix.then(|| dir.path().join("control.sock"));
        let listen = match &socket {
            Some(s) => format!("unix:{}", s.display()),
            None => format!("127.0.0.1:{port}"),
        };
        let text = format!(
            r#"[agent]
data_dir = "{d}/data"
[imap]
host = "127.0.0.1"
port = 10993
tls = "implicit"
ca_file = "{ca}"
[relay]
host = "127.0.0.1"
port = 10587
ca_file = "{ca}"
[control]
listen = "{listen}"
[jmap]
enabled = false
[[mailbox]]
id = "becker"
name = "Becker"
addresses = ["becker@bau-firma.test"]
hosted_address = "{user}"
password_file = "{d}/imap.pw"
transport = "relay"
"#,
            d = dir.path().display(),
            ca = support::ca_file().display(),
        );
        let config = dir.path().join("postbote.toml");
        std::fs::write(&config, text).unwrap();
        let office = Office { dir, config, port, socket, daemon: None };
        let init = office.cli(&["init"]);
        assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));
        office
    }

    fn token_file(&self) -> PathBuf {
        self.dir.path().join("data/control.token")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// `postbote --config CFG ARGS` under umask 022.
    fn cli(&self, args: &[&str]) -> Output {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        postbote_022(&all).output().unwrap()
    }

    /// Start `postbote run` (logging at debug level, to be sure no level shows a token) and
    /// wait until the endpoint answers.
    fn start(mut self) -> Office {
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).unwrap();
        let child = postbote_022(&["--config", self.config.to_str().unwrap(), "run"])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = match &self.socket {
                Some(s) => std::os::unix::net::UnixStream::connect(s).is_ok(),
                None => std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
            };
            if up {
                return self;
            }
            assert!(Instant::now() < deadline, "the control endpoint did not open:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One raw HTTP/1.1 request over TCP, header lines given as written: (status, head, body).
    fn http(&self, method: &str, path: &str, headers: &[String], body: &str) -> (u16, String, Value) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for h in headers {
            req.push_str(&format!("{h}\r\n"));
        }
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// The token in the data directory (empty when there is none, so that a daemon without one
    /// is still asked, and its answer shows).
    fn token(&self) -> String {
        std::fs::read_to_string(self.token_file()).unwrap_or_default().trim().to_string()
    }

    fn login_as(&self, headers: &[String]) -> (u16, String, Value) {
        self.http("POST", "/session/login", headers, r#"{"user": "attacker", "ttl": "520w"}"#)
    }

    fn live_sessions(&self) -> Vec<Value> {
        let out = self.cli(&["session", "list", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// On TCP a request without the token, or with a wrong one, gets 401 and opens nothing; the
/// daemon logs the refusal but never a token; the token from the data directory works.
#[test]
fn tcp_login_needs_the_token_and_the_log_never_shows_one() {
    let o = Office::prepare(false).start();
    let host = "Host: localhost".to_string();
    let (code, _, body) = o.login_as(std::slice::from_ref(&host));
    assert_eq!(code, 401, "no token: {body}");
    let wrong = "f".repeat(64);
    let (code, _, body) = o.login_as(&[host.clone(), format!("Authorization: Bearer {wrong}")]);
    assert_eq!(code, 401, "wrong token: {body}");
    assert!(o.live_sessions().is_empty(), "a refused login opened a session");

    let token = o.token();
    let (code, _, s) =
        o.http("POST", "/session/login", &[host, format!("Authorization: Bearer {token}")], r#"{"user": "anna"}"#);
    assert_eq!(code, 201, "the right token: {s}");
    assert_eq!(o.live_sessions().len(), 1);
    // The command line reads the token by itself.
    let id = stdout(&o.cli(&["session", "login", "SCHMIDT"])).trim().to_string();
    assert_eq!(id.len(), 32, "{id}");

    let log = o.log();
    assert_eq!(log.matches("request refused").count(), 2, "each refusal is logged once:\n{log}");
    assert!(!log.contains(&token) && !log.contains(&wrong), "a token reached the log:\n{log}");
}

/// DNS rebinding (a page on evil.example whose name points at 127.0.0.1) and any request a
/// browser marks with Origin get 403, even with the right token; no CORS header is ever sent.
#[test]
fn foreign_host_or_origin_gets_403_even_with_the_token() {
    let o = Office::prepare(false).start();
    let auth = format!("Authorization: Bearer {}", o.token());
    let cases = [
        vec![format!("Host: evil.example:{}", o.port), auth.clone()],
        vec!["Host: evil.example".into(), auth.clone()],
        vec!["Host: localhost".into(), "Origin: http://evil.example".into(), auth.clone()],
        vec![format!("Host: 127.0.0.1:{}", o.port), "Origin: null".into(), auth.clone()],
    ];
    for headers in &cases {
        let (code, head, body) = o.login_as(headers);
        assert_eq!(code, 403, "{headers:?}: {body}");
        assert!(!head.contains("access-control-"), "{headers:?}: CORS header in\n{head}");
    }
    assert!(o.live_sessions().is_empty(), "a refused login opened a session");
    // The listen address itself and localhost with its port are fine.
    for host in [format!("Host: 127.0.0.1:{}", o.port), format!("Host: localhost:{}", o.port)] {
        let (code, head, body) = o.http("GET", "/session", &[host.clone(), auth.clone()], "");
        assert_eq!(code, 200, "{host}: {body}");
        assert!(!head.contains("access-control-"), "{head}");
    }
    let log = o.log();
    assert!(log.contains("evil.example") && log.contains("Origin"), "the refusals name their reason:\n{log}");
}

/// A login asking for 520 weeks gets at most control.max_session_ttl (12 h by default), the
/// response and `session list` show that lease end, and a heartbeat renews no further.
#[test]
fn a_520_week_lease_is_cut_to_twelve_hours() {
    let o = Office::prepare(false).start();
    let twelve_h = 12 * 3600;
    let out = o.cli(&["session", "login", "SCHMIDT", "--ttl", "520w"]);
    let id = stdout(&out).trim().to_string();
    let sessions = o.live_sessions();
    let s = sessions.iter().find(|s| s["id"] == id.as_str()).unwrap_or_else(|| panic!("{sessions:?}"));
    let lease = s["lease_until"].as_i64().unwrap();
    let now = postbote::store::now();
    assert!(lease <= now + twelve_h, "lease ends {} s from now", lease - now);
    assert!(lease > now + twelve_h - 120, "lease ends only {} s from now", lease - now);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("shortened to control.max_session_ttl"), "{said}");

    let listed = stdout(&o.cli(&["session", "list"]));
    let line = listed.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{listed}"));
    let end = chrono::DateTime::from_timestamp(lease, 0).unwrap().with_timezone(&chrono_tz::Europe::Berlin);
    assert!(line.contains(&format!("lease until {}", end.format("%d.%m.%Y %H:%M"))), "{line}");

    let out = o.cli(&["session", "heartbeat", &id]);
    stdout(&out);
    let renewed = o.live_sessions()[0]["lease_until"].as_i64().unwrap();
    assert!(renewed <= postbote::store::now() + twelve_h, "a heartbeat renewed past 12 h");
}

/// Every login, heartbeat and logout is kept with who made it and from where, and refusals
/// too; `status` and `status --json` show the last five, newest first.
#[test]
fn status_shows_who_opened_renewed_and_ended_sessions() {
    let o = Office::prepare(false).start();
    let (code, _, _) = o.login_as(&["Host: localhost".into()]);
    assert_eq!(code, 401);
    let id = stdout(&o.cli(&["session", "login", "SCHMIDT", "--ttl", "1h"])).trim().to_string();
    stdout(&o.cli(&["session", "heartbeat", &id]));
    stdout(&o.cli(&["session", "logout", &id]));

    let v: Value = serde_json::from_str(&stdout(&o.cli(&["status", "--json"]))).unwrap();
    let audit = v["outbox"]["session_audit"].as_array().unwrap_or_else(|| panic!("no audit in {v}"));
    let actions: Vec<&str> = audit.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["logout", "heartbeat", "login", "refused"]);
    for a in &audit[..3] {
        assert_eq!((a["user"].as_str(), a["session_id"].as_str()), (Some("SCHMIDT"), Some(id.as_str())), "{a}");
        assert!(a["how"].as_str().unwrap().starts_with("tcp 127.0.0.1:"), "{a}");
        assert!(a["lease_until"].as_i64().is_some(), "{a}");
    }
    assert!(audit[3]["detail"].as_str().unwrap().contains("no token"), "{}", audit[3]);

    let text = stdout(&o.cli(&["status"]));
    assert!(text.contains("control endpoint, last requests"), "{text}");
    assert!(text.contains(&format!("SCHMIDT ({id})")) && text.contains("refused"), "{text}");
}

/// With umask 022 the Unix socket is the owner's (and the group postbote's, when it exists):
/// `nobody` cannot connect, the owner can, and the audit names the owner's uid.
#[test]
fn unix_socket_refuses_other_users_under_umask_022() {
    let o = Office::prepare(true).start();
    let sock = o.socket.clone().unwrap();
    assert_eq!(mode(&sock), expected_mode(0o660, 0o600), "socket mode");
    let curl = |as_nobody: bool| {
        let mut c = if as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "curl"]);
            c
        } else {
            Command::new("curl")
        };
        c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket"])
            .arg(&sock)
            .args(["-X", "POST", "-H", "Content-Type: application/json", "-d", r#"{"user":"nobody","ttl":"1h"}"#])
            .arg("http://localhost/session/login")
            .output()
            .unwrap()
    };
    let nobody = curl(true);
    assert_eq!(String::from_utf8_lossy(&nobody.stdout), "000", "nobody reached the endpoint");
    assert!(!nobody.status.success());
    assert!(o.live_sessions().is_empty(), "nobody opened a session");

    let owner = curl(false);
    assert_eq!(String::from_utf8_lossy(&owner.stdout), "201");
    stdout(&o.cli(&["session", "login", "SCHMIDT"]));
    assert_eq!(o.live_sessions().len(), 2);
    let v: Value = serde_json::from_str(&stdout(&o.cli(&["status", "--json"]))).unwrap();
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap();
    assert_eq!(v["outbox"]["session_audit"][0]["how"], format!("unix uid {uid}"));
}

/// The token file is owner-only (0640 with the group postbote) under umask 022, whether
/// `init` made it or `run` made it for an install from before.
#[test]
fn token_file_is_owner_only_under_umask_022() {
    let o = Office::prepare(false);
    let t = o.token_file();
    assert_eq!(mode(&t), expected_mode(0o640, 0o600), "made by init");
    let first = o.token();
    assert_eq!(first.len(), 64);
    std::fs::remove_file(&t).unwrap();
    let o = o.start();
    assert_eq!(mode(&t), expected_mode(0o640, 0o600), "made by run");
    assert_ne!(o.token(), first, "a new token");
    stdout(&o.cli(&["session", "login", "SCHMIDT"]));
}
