//! Hygiene of the `postbote` binary, end to end: its files are private whatever the umask (and
//! an install left readable is reported and repaired), no line break given on the command line
//! or in the config reaches a mail header, the config check refuses what it used to let
//! through, a closed output pipe is not a crash, `--json` commands fail in JSON, and every
//! command line README's usage block shows is one the binary accepts.
//!
//! Each test runs the real binary; the ones that sync or send use the local mail stack.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, ca_file, free_port, unique_token, unique_user};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_postbote")
}

/// `postbote --config CONFIG ARGS` under umask 022, as a login shell usually has it.
fn postbote(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn run(config: &Path, args: &[&str]) -> Output {
    postbote(config, args).output().expect("running postbote")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A data directory, a config and a hosted mailbox on the stack.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    data: PathBuf,
    user: String,
}

fn config_text(d: &Path, user: &str, control_port: u16) -> String {
    format!(
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
tls = "starttls"
ca_file = "{ca}"
[control]
listen = "127.0.0.1:{control_port}"
[jmap]
enabled = false
[[mailbox]]
id = "becker"
name = "Hans Becker"
addresses = ["becker@bau-firma.test"]
hosted_address = "{user}"
password_file = "{d}/pw"
folders = ["INBOX"]
"#,
        d = d.display(),
        ca = ca_file().display(),
    )
}

fn setup(tag: &str) -> Setup {
    let (user, pw) = unique_user(tag);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), format!("{pw}\n")).unwrap();
    let config = dir.path().join("postbote.toml");
    std::fs::write(&config, config_text(dir.path(), &user, free_port())).unwrap();
    let data = dir.path().join("data");
    Setup { dir, config, data, user }
}

/// Every directory and file under `data` (itself included) with its permission bits, by path
/// relative to `data` ("" for `data` itself).
fn modes(data: &Path) -> Vec<(String, u32, bool)> {
    fn walk(root: &Path, p: &Path, out: &mut Vec<(String, u32, bool)>) {
        let Ok(m) = std::fs::symlink_metadata(p) else { return };
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        out.push((rel, m.permissions().mode() & 0o777, m.is_dir()));
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(root, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(data, data, &mut out);
    out
}

/// The data directory is 0700, every file in it 0600, and each of `expected` is there.
fn assert_private(data: &Path, when: &str, expected: &[&str]) {
    let found = modes(data);
    assert!(!found.is_empty(), "{when}: no data directory at {}", data.display());
    let wrong: Vec<String> = found
        .iter()
        .filter(|(_, mode, is_dir)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, mode, _)| format!("{p:?} is {mode:04o}"))
        .collect();
    assert!(wrong.is_empty(), "{when}: under umask 022 these are not private: {wrong:?}");
    for name in expected {
        assert!(found.iter().any(|(p, _, _)| p == name), "{when}: {name} is missing; found {found:?}");
    }
}

/// Make everything under `data` readable by others, as an older postbote (umask 022) left it.
fn loosen(data: &Path) {
    for (p, _, is_dir) in modes(data) {
        std::fs::set_permissions(data.join(&p), std::fs::Permissions::from_mode(if is_dir { 0o755 } else { 0o644 }))
            .unwrap();
    }
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `postbote run` under umask 022; stopped with SIGTERM (SIGKILL if a test fails first).
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn start(s: &Setup) -> Daemon {
        let log = s.dir.path().join(format!("run-{}.log", unique_token()));
        let child = postbote(&s.config, &["run"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting postbote run");
        let d = Daemon { child: Some(child), log };
        let pid = d.pid().to_string();
        let lock = s.data.join("daemon.lock");
        wait_until("the daemon to hold daemon.lock", Duration::from_secs(30), || {
            std::fs::read_to_string(&lock).unwrap_or_default().trim() == pid
        });
        d
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, wait, and return what it logged.
    fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child's pid, which has not been waited for yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        // A SIGTERM that comes before the daemon listens for it ends it the default way; either
        // is a clean end here, where only the files matter.
        use std::os::unix::process::ExitStatusExt;
        assert!(status.success() || status.signal() == Some(libc::SIGTERM), "the daemon ended with {status}:\n{log}");
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: Kunde {n} <kunde{n}@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: Anfrage {n}\r\n\
         Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <h{n}.{}@kunde.test>\r\n\r\nGuten Tag\r\n",
        unique_token()
    )
    .into_bytes()
}

// -------------------------------------------------------------------------- files are private

/// Under umask 022, `init`, `sync --once` and the daemon leave the data directory 0700 and
/// every file, the SQLite `-wal` and `-shm` and `daemon.lock` included, 0600.
#[test]
fn files_are_private_under_umask_022_through_init_sync_and_the_daemon() {
    let s = setup("hyg-modes");
    support::deliver(&s.user, &mail(1));
    let out = run(&s.config, &["init"]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    assert_private(&s.data, "after init", &["", "postbote.sqlite"]);
    let out = run(&s.config, &["sync", "--once", "--quiet"]);
    assert!(out.status.success(), "sync failed: {}{}", text(&out.stdout), text(&out.stderr));
    assert_private(&s.data, "after sync --once", &["", "postbote.sqlite"]);

    let daemon = Daemon::start(&s);
    // While the daemon runs, SQLite keeps its -wal and -shm files beside the store.
    let (wal, shm) = (s.data.join("postbote.sqlite-wal"), s.data.join("postbote.sqlite-shm"));
    wait_until("the store's -wal and -shm files", Duration::from_secs(30), || wal.exists() && shm.exists());
    assert_private(
        &s.data,
        "while the daemon runs",
        &["", "postbote.sqlite", "postbote.sqlite-wal", "postbote.sqlite-shm", "daemon.lock"],
    );
    daemon.stop();
    assert_private(&s.data, "after the daemon", &["", "postbote.sqlite", "daemon.lock"]);
}

/// An install an older postbote left readable (0755 and 0644) is named by `status` (text and
/// JSON), repaired by `init`, which says what it changed, and repaired by `run`, which logs it.
#[test]
fn an_install_left_readable_is_reported_by_status_and_repaired_by_init_and_run() {
    let s = setup("hyg-repair");
    assert!(run(&s.config, &["init"]).status.success());
    std::fs::write(s.data.join("daemon.lock"), "").unwrap();
    loosen(&s.data);

    let out = run(&s.config, &["status"]);
    assert!(out.status.success(), "status failed: {}", text(&out.stderr));
    let said = text(&out.stdout);
    let store = s.data.join("postbote.sqlite").display().to_string();
    assert!(
        said.lines().any(|l| l.contains("WARNING") && l.contains(&store) && l.contains("0644")),
        "status must warn that the store is readable by others:\n{said}"
    );
    let out = run(&s.config, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json prints JSON");
    assert_eq!(v["files"]["private"], false, "{v}");
    let loose: Vec<&str> = v["files"]["loose"].as_array().unwrap().iter().filter_map(|l| l["path"].as_str()).collect();
    assert!(loose.contains(&store.as_str()) && loose.contains(&s.data.display().to_string().as_str()), "{loose:?}");
    // status only looks: it changes nothing.
    assert!(modes(&s.data).iter().any(|(p, m, _)| p == "postbote.sqlite" && *m == 0o644));

    let out = run(&s.config, &["init"]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.lines().any(|l| l.starts_with("repaired") && l.contains(&store)), "init must say so:\n{said}");
    assert_private(&s.data, "after init repaired it", &["", "postbote.sqlite", "daemon.lock"]);
    let out = run(&s.config, &["status"]);
    assert!(!text(&out.stdout).contains("WARNING"), "nothing to warn about any more:\n{}", text(&out.stdout));

    loosen(&s.data);
    let daemon = Daemon::start(&s);
    assert_private(&s.data, "after run repaired it", &["", "postbote.sqlite", "daemon.lock"]);
    let log = daemon.stop();
    assert!(
        log.lines().any(|l| l.contains("repaired a file mode") && l.contains(&store)),
        "run must log each repair:\n{log}"
    );
}

// ---------------------------------------------------------------------------- header injection

/// `send --subject` with CR LF in it would have put a Bcc line into the message (and its
/// address among the recipients): it is refused and nothing is queued. A proper message with
/// umlauts and a display name goes out through Postfix, its headers encoded by mail-builder.
#[test]
fn a_line_break_in_send_arguments_never_becomes_a_header() {
    let s = setup("hyg-send");
    let token = unique_token().replace('.', "-");
    let hidden = format!("hidden-{token}@kunde.test");
    let shown = format!("kunde-{token}@kunde.test");
    assert!(run(&s.config, &["init"]).status.success());

    let subject = format!("Hallo\r\nBcc: {hidden}");
    let out = run(&s.config, &["send", "--mailbox", "becker", "--to", &shown, "--subject", &subject]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "a subject with CR LF must be refused:\n{}{err}", text(&out.stdout));
    assert!(err.contains("--subject") && err.contains("line break"), "the error must name --subject: {err}");
    let to = format!("{shown}\r\nBcc: {hidden}");
    let out = run(&s.config, &["send", "--mailbox", "becker", "--to", &to, "--subject", "x"]);
    assert!(!out.status.success(), "a --to with CR LF must be refused: {}", text(&out.stdout));
    let queued = run(&s.config, &["queue", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&queued.stdout).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(0), "nothing may be queued: {rows}");

    let body = s.dir.path().join("body.txt");
    std::fs::write(&body, "Sehr geehrte Damen und Herren,\nanbei das Angebot.\n").unwrap();
    let to = format!("Kundin Müller <{shown}>");
    let out = run(
        &s.config,
        &[
            "send",
            "--mailbox",
            "becker",
            "--to",
            &to,
            "--subject",
            "Angebot Bäder",
            "--body-file",
            body.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "send failed: {}", text(&out.stderr));
    let daemon = Daemon::start(&s);
    let got = support::wait_captured(&shown, 1, Duration::from_secs(60));
    daemon.stop();
    assert_eq!(got.len(), 1, "the message must reach {shown}");
    let m = mail_parser::MessageParser::default().parse(&got[0].raw).unwrap();
    assert_eq!(m.subject(), Some("Angebot Bäder"));
    let to = m.to().and_then(|a| a.first()).unwrap();
    assert_eq!((to.name(), to.address()), (Some("Kundin Müller"), Some(shown.as_str())));
    assert!(m.header("Bcc").is_none());
    assert!(support::captured_for(&hidden).is_empty(), "nothing may reach the injected Bcc address");
}

/// `vacation set --subject` with a line break is refused (the reply's subject is a header),
/// and so is a leave that ends before it begins.
#[test]
fn vacation_set_refuses_a_subject_with_a_line_break_and_a_leave_ending_before_it_begins() {
    let s = setup("hyg-vac");
    let out = run(&s.config, &["vacation", "set", "--mailbox", "becker", "--subject", "Urlaub\r\nBcc: x@kunde.test"]);
    assert!(!out.status.success(), "must be refused: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("--subject"), "{}", text(&out.stderr));
    let out = run(&s.config, &["vacation", "show", "--mailbox", "becker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["subject"].is_null(), "nothing was saved: {v}");

    let out =
        run(&s.config, &["vacation", "set", "--mailbox", "becker", "--from", "2099-01-10", "--until", "2099-01-05"]);
    assert!(!out.status.success(), "must be refused: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("--until"), "{}", text(&out.stderr));
}

// ------------------------------------------------------------------------------- config check

/// `config check` refuses a line break in a value that goes into a header (naming the key), a
/// zero outbox lifetime, a vacation that ends before it starts, and names the wrong cron field.
#[test]
fn config_check_refuses_what_it_used_to_let_through() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "pw\n").unwrap();
    let base = config_text(dir.path(), "becker.bau-firma@handwerk.test", 4190);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a display name with CR LF",
            base.replace("name = \"Hans Becker\"", "name = \"Hans Becker\\r\\nBcc: x@kunde.test\""),
            "mailbox \"becker\": name \"Hans Becker\\r\\nBcc: x@kunde.test\" contains a line break",
        ),
        (
            "a vacation subject with LF",
            format!("{base}[mailbox.vacation]\nsubject = \"Urlaub\\nBcc: x@kunde.test\"\n"),
            "mailbox \"becker\": vacation.subject",
        ),
        (
            "a DKIM selector with CR LF",
            format!("{base}[mailbox.dkim]\nselector = \"s1\\r\\nX: y\"\nkey_file = \"{}/pw\"\n", dir.path().display()),
            "mailbox \"becker\": dkim.selector",
        ),
        (
            "a zero lifetime",
            format!("{base}[outbox]\nlifetime = \"0s\"\n"),
            "outbox.lifetime \"0s\" must be longer than zero",
        ),
        (
            "a vacation ending before it starts",
            format!("{base}[mailbox.vacation]\nstart = 2027-01-06\nend = 2026-12-21\n"),
            "mailbox \"becker\": vacation.end 2026-12-21 is not after vacation.start 2027-01-06",
        ),
        (
            "an hour out of range",
            base.replace("[agent]\n", "[agent]\npoll = \"*/5 24 * * *\"\n"),
            "agent.poll \"*/5 24 * * *\" is not a crontab schedule: the hour field \"24\" is wrong",
        ),
        (
            "a bad day of week in a vacation schedule",
            format!("{base}[mailbox.vacation]\nschedule = [\"0 8 * * MON-FUN\"]\n"),
            "vacation.schedule \"0 8 * * MON-FUN\" is not a crontab expression: the day-of-week field \"MON-FUN\"",
        ),
    ];
    let path = dir.path().join("postbote.toml");
    std::fs::write(&path, &base).unwrap();
    let ok = run(&path, &["config", "check"]);
    assert!(ok.status.success(), "the base config must pass: {}", text(&ok.stderr));
    let mut wrong = Vec::new();
    for (what, config, want) in &cases {
        std::fs::write(&path, config).unwrap();
        let out = run(&path, &["config", "check"]);
        let err = text(&out.stderr);
        if out.status.success() || !err.contains(want) {
            wrong.push(format!("{what}: exit {}, said {}{err}", out.status, text(&out.stdout)));
        }
    }
    assert!(wrong.is_empty(), "config check must refuse, saying what and where:\n{}", wrong.join("\n"));
}

// ------------------------------------------------------------------------------ output and errors

/// `messages list --limit 3000 | head -1` on a store whose listing overflows a 64 KB pipe: the
/// reader goes away after one line, and postbote ends with status 0, no panic, no backtrace.
#[test]
fn a_closed_output_pipe_ends_the_listing_quietly() {
    let s = setup("hyg-pipe");
    support::stack(&["populate", &s.user, "1500", "400"], None);
    let out = run(&s.config, &["sync", "--once", "--quiet"]);
    assert!(out.status.success(), "sync failed: {}{}", text(&out.stdout), text(&out.stderr));
    let args = ["messages", "list", "--mailbox", "becker", "--limit", "3000"];
    let all = run(&s.config, &args);
    assert!(all.status.success(), "{}", text(&all.stderr));
    assert!(all.stdout.len() > 65_536, "the listing must overflow a pipe's 64 KB, it is {} bytes", all.stdout.len());

    let mut child = postbote(&s.config, &args)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
    } // `head -1` exits: the read end closes here.
    assert!(!first.trim().is_empty());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "no panic on a closed pipe:\n{err}");
    assert!(status.success(), "a closed pipe is not a failure: {status}\n{err}");
}

/// A `--json` command that fails prints one JSON object with "error" on stdout and exits
/// non-zero, whether the failure is postbote's or the command line's.
#[test]
fn json_commands_report_errors_as_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "pw\n").unwrap();
    let path = dir.path().join("postbote.toml");
    std::fs::write(&path, config_text(dir.path(), "becker.bau-firma@handwerk.test", 4190)).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["queue", "show", "424242", "--json"], "424242"),
        (&["messages", "list", "--mailbox", "nobody", "--json"], "nobody"),
        (&["vacation", "show", "--mailbox", "nobody", "--json"], "nobody"),
        (&["status", "--json", "--colour"], "--colour"),
    ];
    for (args, named) in cases {
        let out = run(&path, args);
        assert!(!out.status.success(), "{args:?} must fail");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {:?}", text(&out.stdout)));
        let msg = v["error"].as_str().unwrap_or_else(|| panic!("{args:?}: no \"error\" string in {v}"));
        assert!(msg.contains(named), "{args:?}: the error should name {named}: {msg}");
    }
}

// ----------------------------------------------------------------------------- README and CLI

/// The command lines of README's usage block: each `postbote ...` line of the ```sh block
/// under "## Using it", with comments and redirections dropped, `a | b` alternatives and
/// `show|off` words expanded, `[optional]` parts included, and placeholders (ID, SCHMIDT) given
/// a value.
fn readme_command_lines() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(support::repo_root().join("README.md")).unwrap();
    let section = readme.split_once("## Using it").expect("README has a \"## Using it\" section").1;
    let block = section.split_once("```sh\n").expect("a ```sh block under \"## Using it\"").1;
    let block = block.split_once("```").expect("the block ends").0;
    block.lines().map(str::trim).filter(|l| l.starts_with("postbote ")).flat_map(expand).collect()
}

/// Shell-like words: whitespace separates, double quotes group, `[` and `]` separate too (they
/// only mark optional parts), and ` #` starts a comment.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut prev_space) = (Vec::new(), String::new(), false, true);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted && prev_space => break,
            c if !quoted && (c.is_whitespace() || c == '[' || c == ']') => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
        prev_space = !quoted && c.is_whitespace();
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn expand(line: &str) -> Vec<Vec<String>> {
    let mut tokens = words(line);
    // Redirections belong to the shell.
    while let Some(i) = tokens.iter().position(|t| t == "<" || t == ">") {
        tokens.drain(i..(i + 2).min(tokens.len()));
    }
    // `postbote queue list | show ID | retry ID`: later alternatives follow `postbote queue`.
    let mut groups = tokens.split(|t| t == "|");
    let first: Vec<String> = groups.next().unwrap().to_vec();
    let prefix = first[..2.min(first.len())].to_vec();
    let mut lines = vec![first];
    lines.extend(groups.map(|g| prefix.iter().chain(g).cloned().collect()));
    // `show|off` and `de|en`: one line per choice.
    let mut out = Vec::new();
    for l in lines {
        let mut variants: Vec<Vec<String>> = vec![Vec::new()];
        for t in l {
            let t =
                if t.len() > 1 && t.chars().all(|c| c.is_ascii_uppercase() || c == '_') { "1".to_string() } else { t };
            let choices: Vec<&str> = if t.starts_with('-') { vec![t.as_str()] } else { t.split('|').collect() };
            variants = variants
                .into_iter()
                .flat_map(|v| choices.iter().map(move |c| v.iter().cloned().chain([c.to_string()]).collect()))
                .collect();
        }
        out.extend(variants);
    }
    out
}

#[test]
fn readme_usage_parser_reads_the_shapes_the_block_uses() {
    let l = |s: &str| expand(s).into_iter().map(|v| v.join(" ")).collect::<Vec<_>>();
    assert_eq!(l("postbote config example > /etc/x.toml   # every key"), ["postbote config example"]);
    assert_eq!(
        l("postbote queue list | show ID | cancel ID"),
        ["postbote queue list", "postbote queue show 1", "postbote queue cancel 1"]
    );
    assert_eq!(
        l("postbote vacation show|off --mailbox becker"),
        ["postbote vacation show --mailbox becker", "postbote vacation off --mailbox becker"]
    );
    assert_eq!(
        l("postbote x --at \"2026-12-22 09:00\"] [--json] < m.eml"),
        ["postbote x --at 2026-12-22 09:00 --json"]
    );
}

/// Every command line README's usage block shows is accepted by the binary: each is run with
/// `--help` appended, so clap checks every subcommand, flag and value up to that point (an
/// unknown flag like `vacation set --start` fails) without running anything.
#[test]
fn every_usage_line_of_the_readme_is_accepted_by_the_binary() {
    let lines = readme_command_lines();
    assert!(lines.len() >= 20, "README's usage block should show the commands; found {lines:?}");
    let mut refused = Vec::new();
    for l in &lines {
        let out = Command::new(bin()).args(&l[1..]).arg("--help").output().unwrap();
        if !out.status.success() || !text(&out.stdout).contains("Usage:") {
            refused.push(format!("{}: {}", l.join(" "), text(&out.stderr).lines().next().unwrap_or("")));
        }
    }
    assert!(refused.is_empty(), "README shows command lines the binary rejects:\n{}", refused.join("\n"));
}
