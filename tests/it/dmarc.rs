//! DMARC aggregate reports end to end: the corpus of `tests/data/dmarc/` (made by its
//! `make.py`) is delivered to a fresh Dovecot user, mirrored, read by the collector, and
//! `postbote doctor reports --json` must show exactly its figures: the broken reports listed,
//! the ordinary mail, an XRechnung e-invoice and a TLS report passed over, a report delivered
//! again not counted twice, and one moved into the folder after newer ones were read still read.
//! The figures are checked at fixed days (the hidden `--now DAY`), so the corpus' 2026-12-01
//! never drops out of the window as the calendar moves on.
//!
//! The sending paths come from the stack's unbound (127.0.0.1:5353): `[direct] host =
//! "smtp.provider.test"` resolves to 127.0.0.2; the relay is 127.0.0.1 (its host, and the
//! SPF of handwerk.test); 192.0.2.25 is listed in `doctor.direct_ips`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use postbote::deliverability::{dns::Resolver, reports};
use postbote::mirror;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::jmapd::{Builder, Mailbox};
use crate::support::{DNS_PORT, deliver, deliver_to_folder, unique_user};

const ID: &str = "info";

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dmarc").join(name)).unwrap()
}

/// `doctor reports --json` over every day since the corpus' 2026-12-01.
fn doctor_reports(config: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(config)
        .args(["doctor", "reports", "--json", "--days", "36500"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "doctor reports failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// [messages, dmarc_pass, dmarc_fail, spf_aligned, dkim_aligned, quarantined, rejected]
fn figures(v: &Value) -> [i64; 7] {
    ["messages", "dmarc_pass", "dmarc_fail", "spf_aligned", "dkim_aligned", "quarantined", "rejected"]
        .map(|k| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}")))
}

fn path<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["paths"].as_array().unwrap().iter().find(|p| p["path"] == name).unwrap_or_else(|| panic!("{name} in {v}"))
}

fn reporter<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["reporters"].as_array().unwrap().iter().find(|r| r["reporter"] == name).unwrap_or_else(|| panic!("{name} in {p}"))
}

async fn sync(app: &postbote::app::App) {
    let r = mirror::sync_once(app, ID, false).await;
    r.unwrap_or_else(|e| panic!("sync failed: {e:#}"));
}

/// `doctor reports --json --days N --now DAY`: the figures as of a fixed day.
fn doctor_reports_at(config: &Path, days: u32, now: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(config)
        .args(["doctor", "reports", "--json", "--days", &days.to_string(), "--now", now])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "doctor reports failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Messages of all paths together.
fn all_messages(v: &Value) -> i64 {
    v["paths"].as_array().unwrap().iter().map(|p| p["messages"].as_i64().unwrap()).sum()
}

#[tokio::test]
async fn reports_are_mirrored_collected_and_counted_once() {
    let (user, pw) = unique_user("dmarc");
    // A report that sits in Sent first: it gets the lowest message id, and is moved into the
    // reports folder only after the newer ones there were read.
    deliver_to_folder(&user, "Sent", &corpus("google.eml"));
    let setup = Builder::new()
        .mailbox(Mailbox::new(ID, &user, &pw).kind("shared").folders(r#"["INBOX", "\\Sent"]"#))
        .section("[direct]\nhost = \"smtp.provider.test\"\n")
        .section(&format!(
            "[doctor]\nresolver = \"127.0.0.1:{DNS_PORT}\"\nreports_mailbox = \"info\"\ndirect_ips = [\"192.0.2.25\"]\n"
        ))
        .open();
    let app = &setup.app;
    sync(app).await;
    for f in [
        "google.eml",
        "microsoft.eml",
        "gmx.eml",
        "webde-mixed.eml",
        "broken-truncated-zip.eml",
        "broken-not-a-report.eml",
        "other-mail.eml",
        "xrechnung.eml",
        "tls-report.eml",
    ] {
        deliver(&user, &corpus(f));
    }
    sync(app).await;

    // The collector's pass, as the daemon task runs it.
    let doctor = &app.config.doctor;
    let resolver = Resolver::new(doctor.resolver, doctor.timeout).unwrap();
    let blocks = reports::path_blocks(&resolver, &app.config).await;
    assert!(
        blocks.direct.iter().any(|b| b.contains("127.0.0.2".parse().unwrap())),
        "smtp.provider.test resolves to 127.0.0.2 on the stack's unbound: {blocks:?}"
    );
    assert!(blocks.direct_failed.is_empty() && blocks.relay_failed.is_empty(), "{blocks:?}");
    let done = reports::collect(app).unwrap();
    assert_eq!(
        done,
        reports::Collected { counted: 4, duplicates: 0, broken: 2, passed: 3 },
        "four reports, two broken, an ordinary mail, an XRechnung and a TLS report passed over"
    );

    let v = doctor_reports(&setup.config);
    assert_eq!(v["reports"], 4, "{v}");
    // [messages, dmarc_pass, dmarc_fail, spf_aligned, dkim_aligned, quarantined, rejected]
    assert_eq!(figures(path(&v, "direct")), [53, 53, 0, 53, 20, 0, 0], "{v}");
    assert_eq!(figures(path(&v, "relay")), [526, 210, 316, 210, 210, 316, 0], "{v}");
    assert_eq!(figures(path(&v, "unknown")), [6, 0, 6, 0, 0, 6, 0], "{v}");
    assert_eq!(figures(path(&v, "unchecked")), [0; 7], "{v}");
    let relay = path(&v, "relay");
    assert_eq!(figures(reporter(relay, "gmx.net")), [300, 0, 300, 0, 0, 300, 0]);
    assert_eq!(figures(reporter(relay, "microsoft.com")), [57, 50, 7, 50, 50, 7, 0]);
    assert_eq!(figures(reporter(relay, "google.com")), [120, 120, 0, 120, 120, 0, 0]);
    assert_eq!(figures(reporter(relay, "web.de")), [49, 40, 9, 40, 40, 9, 0]);
    assert_eq!(relay["reporters"][0]["reporter"], "gmx.net", "most messages first");
    assert_eq!(figures(reporter(path(&v, "direct"), "web.de")), [11, 11, 0, 11, 8, 0, 0]);
    let broken = v["broken"].as_array().unwrap();
    assert_eq!(broken.len(), 2, "{v}");
    let errors: Vec<&str> = broken.iter().map(|b| b["error"].as_str().unwrap()).collect();
    assert!(errors.iter().any(|e| e.starts_with("the attachment could not be unpacked")), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("the XML is not a DMARC aggregate report")), "{errors:?}");
    assert!(broken.iter().all(|b| b["mailbox"] == ID && b["message"].as_i64().is_some()));

    // The window, at fixed days (the corpus is about 2026-12-01): exactly N days ending today.
    let at = |days, now| doctor_reports_at(&setup.config, days, now);
    let week = at(7, "2026-12-03");
    assert_eq!((week["reports"].as_i64(), all_messages(&week)), (Some(4), 585), "{week}");
    assert_eq!(week["since"], "2026-11-27");
    assert_eq!(week["paths"], v["paths"]);
    let day = at(1, "2026-12-01");
    assert_eq!((day["reports"].as_i64(), all_messages(&day)), (Some(4), 585), "--days 1 is today: {day}");
    let next = at(1, "2026-12-02");
    assert_eq!((next["reports"].as_i64(), all_messages(&next)), (Some(0), 0), "{next}");
    let late = at(7, "2026-12-07");
    assert_eq!((late["reports"].as_i64(), all_messages(&late)), (Some(4), 585), "the seventh day back: {late}");
    let gone = at(7, "2026-12-08");
    assert_eq!((gone["reports"].as_i64(), all_messages(&gone)), (Some(0), 0), "the eighth day back: {gone}");
    let before = at(7, "2026-11-30");
    assert_eq!((before["reports"].as_i64(), all_messages(&before)), (Some(0), 0), "a day after today: {before}");

    // Google sends the same report again: the daemon's collector (catching up at its start)
    // keeps it once.
    deliver(&user, &corpus("google.eml"));
    sync(app).await;
    let token = CancellationToken::new();
    let task = tokio::spawn(reports::run(app.clone(), token.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !app.store.dmarc().waiting(ID, Some("INBOX"), None, 100).unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the collector did not read the new message");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    token.cancel();
    task.await.unwrap().unwrap();
    let again = doctor_reports(&setup.config);
    assert_eq!(again["reports"], 4);
    assert_eq!(again["paths"], v["paths"], "a report delivered twice is counted once");
    assert_eq!(again["broken"].as_array().unwrap().len(), 2);

    // The text speaks German by default, English on request.
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(&setup.config)
        .args(["doctor", "reports", "--days", "7", "--now", "2026-12-03", "--lang", "en"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Receivers' DMARC reports, last 7 days (from 2026-11-27): 4 reports\n"), "{text}");
    assert!(text.contains("via the relay (relay): 526 messages, DMARC passed 210, failed 316"), "{text}");
    assert!(!text.contains("(unchecked)"), "{text}");
    assert!(text.contains("Unreadable reports (2), skipped:"), "{text}");

    // `postbote doctor` puts the receivers' word under each DNS prediction, per path.
    let doctor_at = |now: &str, json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_postbote"));
        c.arg("--config").arg(&setup.config).args(["doctor", "--lang", "en", "--now", now]);
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let text = String::from_utf8_lossy(&doctor_at("2026-12-03", false).stdout).into_owned();
    assert_eq!(text.matches("  receivers' reports: last 7 days: ").count(), 2, "one line per path: {text}");
    assert!(
        text.contains("  receivers' reports: last 7 days: 53 messages via the company's own server, all passed DMARC"),
        "{text}"
    );
    assert!(
        text.contains(
            "  receivers' reports: last 7 days: 526 messages via the relay, 316 failed DMARC at gmx.net, microsoft.com and web.de"
        ),
        "{text}"
    );
    let all: Value = serde_json::from_slice(&doctor_at("2026-12-03", true).stdout).unwrap();
    let received = |transport: &str| {
        let r = all
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["transport"] == transport && p["domain"] == "bau-firma.test")
            .unwrap_or_else(|| panic!("{all}"));
        r["received"].clone()
    };
    assert_eq!(
        received("direct"),
        serde_json::json!({"days": 7, "messages": 53, "dmarc_pass": 53, "dmarc_fail": 0, "failed_at": [], "unchecked": 0})
    );
    assert_eq!(
        received("relay"),
        serde_json::json!({"days": 7, "messages": 526, "dmarc_pass": 210, "dmarc_fail": 316,
            "failed_at": ["gmx.net", "microsoft.com", "web.de"], "unchecked": 0})
    );
    let all: Value = serde_json::from_slice(&doctor_at("2026-12-08", true).stdout).unwrap();
    assert!(all.as_array().unwrap().iter().all(|p| p["received"]["messages"] == 0), "out of the window: {all}");

    // The report in Sent is moved into the reports folder by a phone (its message id, lower than
    // those read, stays): it is read all the same, and as the same report it adds nothing.
    let sent: Vec<i64> = app.store.messages().list(ID, Some("Sent"), 10).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let inbox = app.store.folders().by_name(ID, "INBOX").unwrap().unwrap().id;
    let newest_read = app.store.messages().list(ID, Some("INBOX"), 100).unwrap().iter().map(|m| m.id).max().unwrap();
    assert!(sent[0] < newest_read, "the moved message is older than those read");
    let to_inbox = postbote::store::email_set::EmailUpdate {
        keywords: None,
        folder: Some(postbote::store::email_set::MailboxPatch::Replace(vec![inbox])),
    };
    app.store.emails().set(ID, None, &[(sent[0], to_inbox)], &[]).unwrap().unwrap();
    let done = reports::collect(app).unwrap();
    assert_eq!(done, reports::Collected { duplicates: 1, ..Default::default() }, "the moved report is read");
    assert!(app.store.dmarc().is_seen(sent[0]).unwrap());
    assert_eq!(doctor_reports(&setup.config)["paths"], v["paths"]);
}
