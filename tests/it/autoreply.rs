//! Automatic replies, end to end: the `postbote` binary's `vacation` and `autoreply explain
//! --json` commands on a real store, and the daemon answering a message delivered to Dovecot,
//! holding the reply behind the office-session gate and handing it to Postfix.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, Utc};
use chrono_tz::Europe::Berlin;
use serde_json::Value;

fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/autoreply").join(file)
}

/// A config with one employee and one shared mailbox whose store lives in `dir`. Nothing in it
/// is contacted by `vacation` or `explain`.
fn write_config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("pw"), "becker-pw\n").unwrap();
    let text = format!(
        r#"
[agent]
data_dir = "{d}/data"
time_zone = "Europe/Berlin"
[imap]
host = "localhost"
port = 10993
[relay]
host = "localhost"
port = 10587
[jmap]
enabled = false
[[mailbox]]
id = "becker"
name = "Hans Becker"
addresses = ["becker@bau-firma.test", "h.becker@bau-firma.test"]
hosted_address = "becker.bau-firma@handwerk.test"
password_file = "{d}/pw"
[[mailbox]]
id = "info"
kind = "shared"
addresses = ["info@bau-firma.test"]
hosted_address = "info.bau-firma@handwerk.test"
password_file = "{d}/pw"
"#,
        d = dir.display()
    );
    let path = dir.join("postbote.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn postbote(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run postbote");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `explain --json` prints exactly one JSON object with `decision` and `reason`.
fn explain(config: &Path, file: &str, at: &str) -> Value {
    let f = corpus(file);
    let (ok, out, err) = postbote(config, &["autoreply", "explain", "--mailbox", "becker", f.to_str().unwrap(), "--at", at, "--json"]);
    assert!(ok, "explain {file} failed: {err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON object on one line: {out}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn local_day(offset_days: i64) -> String {
    (Utc::now().with_timezone(&Berlin) + Duration::days(offset_days)).format("%Y-%m-%d").to_string()
}

#[test]
fn vacation_set_then_explain_json_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    // Before anything is set: off.
    let v = explain(&config, "customer.eml", &format!("{}T10:00", local_day(0)));
    assert_eq!((v["decision"].as_str(), v["reason"].as_str()), (Some("skip"), Some("disabled")), "{v}");

    let (from, until) = (local_day(-1), local_day(10));
    let (ok, out, err) = postbote(
        &config,
        &["vacation", "set", "--mailbox", "becker", "--from", &from, "--until", &until, "--body", "Ich bin im Urlaub. Grüße"],
    );
    assert!(ok, "vacation set failed: {err}");
    assert!(out.contains("automatic replies on"), "{out}");
    let (ok, out, _) = postbote(&config, &["vacation", "show", "--mailbox", "becker", "--json"]);
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["isEnabled"], Value::Bool(true));
    assert!(shown["toLocal"].as_str().unwrap().starts_with(&local_day(11)), "an inclusive end date ends at the next local midnight: {shown}");

    // Inside the leave: a reply, to the return path, with the RFC 3834 headers.
    let inside = format!("{}T09:30", local_day(2));
    let v = explain(&config, "customer.eml", &inside);
    assert_eq!((v["decision"].as_str(), v["reason"].as_str()), (Some("reply"), Some("reply")), "{v}");
    assert_eq!(v["reply"]["to"], "mueller@kunde.test");
    assert_eq!(v["reply"]["from"], "becker@bau-firma.test");
    let headers: Vec<&str> = v["reply"]["headers"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    for want in ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All", "In-Reply-To: <c1.20270102@kunde.test>"] {
        assert!(headers.contains(&want), "{want} missing in {headers:?}");
    }
    // The forward's SRS return path is answered at the original sender.
    let v = explain(&config, "srs-return-path.eml", &inside);
    assert_eq!(v["reply"]["to"], "anna.roth@kunde-mail.test", "{v}");
    // Harmful cases are skipped with their reason.
    for (file, reason) in [
        ("mailing-list.eml", "list_header"),
        ("bounce-dsn.eml", "empty_return_path"),
        ("other-autoresponder.eml", "auto_submitted"),
        ("bcc.eml", "not_addressed_to_mailbox"),
    ] {
        let v = explain(&config, file, &inside);
        assert_eq!((v["decision"].as_str(), v["reason"].as_str()), (Some("skip"), Some(reason)), "{file}: {v}");
    }
    // The day after the last day of leave: nothing.
    let v = explain(&config, "customer.eml", &format!("{}T00:30", local_day(11)));
    assert_eq!(v["reason"], "outside_leave", "{v}");

    // Switched off: disabled; the text mode prints the decision for people.
    assert!(postbote(&config, &["vacation", "off", "--mailbox", "becker"]).0);
    let f = corpus("customer.eml");
    let (ok, out, _) = postbote(&config, &["autoreply", "explain", "--mailbox", "becker", f.to_str().unwrap(), "--at", &inside]);
    assert!(ok);
    assert!(out.starts_with("skip: disabled"), "{out}");
    // A bad mailbox is an error with a message, not a panic.
    let (ok, _, err) = postbote(&config, &["autoreply", "explain", "--mailbox", "nobody", f.to_str().unwrap()]);
    assert!(!ok && err.contains("no mailbox \"nobody\""), "{err}");
}
