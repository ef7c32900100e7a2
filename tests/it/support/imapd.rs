//! The daemon with its IMAP server for phones (`[imap_server]`) on a free loopback port, and
//! the real clients the IMAP tests drive it with: Python's imaplib (scripts run with
//! `python3`, their output read back as lines) and mbsync (isync) into a Maildir. Nothing
//! sleeps to let a server come up: [`start`] waits for the port.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::jmapd::{Builder, Daemon};
use super::{ca_file, free_port};

/// A running daemon and its IMAP port.
pub struct Imapd {
    pub d: Daemon,
    pub port: u16,
}

/// Start the daemon of `builder` with the IMAP server on a free port (plain, loopback).
pub async fn start(builder: Builder) -> Imapd {
    start_with(builder, "").await
}

/// [`start`] with more lines in `[imap_server]` (e.g. `listen_tls`).
pub async fn start_with(builder: Builder, lines: &str) -> Imapd {
    let port = free_port();
    let d = builder
        .section(&format!("[imap_server]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n{lines}\n"))
        .start()
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "the IMAP port did not open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Imapd { d, port }
}

/// Run a Python script (imaplib is imported, `PORT`, `USER` and `TOKEN` are set, plus
/// `EXTRA`, a string) on a blocking thread; its stdout lines. Panics with stderr on failure.
pub async fn python(port: u16, user: &str, token: &str, extra: &str, script: &str) -> Vec<String> {
    let prelude = format!(
        "import imaplib, sys, time, socket, re\nPORT = {port}\nUSER = {user:?}\nTOKEN = {token:?}\nEXTRA = {extra:?}\n\
         def connect():\n    return imaplib.IMAP4('127.0.0.1', PORT, timeout=30)\n\
         def login():\n    M = connect()\n    M.login(USER, TOKEN)\n    return M\n"
    );
    let text = format!("{prelude}{script}\n");
    let out = tokio::task::spawn_blocking(move || Command::new("python3").arg("-c").arg(text).output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "python failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(str::to_string).collect()
}

/// An mbsync config in `dir` pulling (or with `sync`, e.g. "All") every folder of an IMAP
/// server into `dir/maildir`: postbote's plain port, or Dovecot's IMAPS with the stack's CA.
pub fn mbsync_config(dir: &Path, port: u16, tls: bool, user: &str, pass: &str, sync: &str) -> std::path::PathBuf {
    let maildir = dir.join("maildir");
    std::fs::create_dir_all(&maildir).unwrap();
    let tls_lines = if tls {
        format!("SSLType IMAPS\nCertificateFile {}\n", ca_file().display())
    } else {
        "SSLType None\nAuthMechs PLAIN LOGIN\n".to_string()
    };
    let text = format!(
        "IMAPAccount a\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass {pass}\n{tls_lines}\n\
         IMAPStore remote\nAccount a\n\n\
         MaildirStore local\nPath {m}/\nInbox {m}/INBOX\nSubFolders Verbatim\n\n\
         Channel c\nFar :remote:\nNear :local:\nPatterns *\nCreate Near\nSync {sync}\nSyncState *\nExpunge None\n",
        m = maildir.display()
    );
    let rc = dir.join("mbsyncrc");
    std::fs::write(&rc, text).unwrap();
    rc
}

/// Run mbsync with `rc` on a blocking thread; panics with its output on failure.
pub async fn mbsync(rc: &Path) -> String {
    let rc = rc.to_owned();
    let out =
        tokio::task::spawn_blocking(move || Command::new("mbsync").arg("-c").arg(&rc).arg("-a").output().unwrap())
            .await
            .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "mbsync failed:\n{text}");
    text
}

/// Every message file below `maildir`: (folder, bytes), sorted.
pub fn maildir_messages(maildir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.parent().is_some_and(|d| d.ends_with("cur") || d.ends_with("new")) {
                let folder = p.parent().unwrap().parent().unwrap().strip_prefix(root).unwrap().display().to_string();
                out.push((folder, std::fs::read(&p).unwrap()));
            }
        }
    }
    walk(maildir, maildir, &mut out);
    out.sort();
    out
}

/// A Python script (same prelude as [`python`]) that runs while the test acts: its stdout
/// lines arrive as they are printed (the script must flush).
pub struct Script {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Script {
    pub fn spawn(port: u16, user: &str, token: &str, script: &str) -> Script {
        let prelude = format!(
            "import imaplib, sys, time, socket, re\nPORT = {port}\nUSER = {user:?}\nTOKEN = {token:?}\n\
             def connect():\n    return imaplib.IMAP4('127.0.0.1', PORT, timeout=30)\n\
             def login():\n    M = connect()\n    M.login(USER, TOKEN)\n    return M\n\
             def say(*a):\n    print(*a)\n    sys.stdout.flush()\n"
        );
        let mut child = tokio::process::Command::new("python3")
            .arg("-c")
            .arg(format!("{prelude}{script}\n"))
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        use tokio::io::AsyncBufReadExt;
        let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Script { child, lines }
    }

    /// The next line the script prints (within 30 s).
    pub async fn line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the script printed in time")
            .unwrap()
            .unwrap_or_else(|| panic!("the script ended early"))
    }

    /// Waits for the script to end well.
    pub async fn done(mut self) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "the script failed");
    }
}
