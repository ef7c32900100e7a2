//! DMARC aggregate reports end to end: the corpus of `tests/data/dmarc/` (made by its
//! `make.py`) is delivered to a fresh Dovecot user, mirrored, read by the collector, and
//! `postbote doctor reports --json` must show exactly its figures: the broken reports listed,
//! the ordinary mail passed over, and a report delivered again not counted twice.
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
use crate::support::{DNS_PORT, deliver, unique_user};

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

#[tokio::test]
async fn reports_are_mirrored_collected_and_counted_once() {
    let (user, pw) = unique_user("dmarc");
    for f in [
        "google.eml",
        "microsoft.eml",
        "gmx.eml",
        "webde-mixed.eml",
        "broken-truncated-zip.eml",
        "broken-not-a-report.eml",
        "other-mail.eml",
    ] {
        deliver(&user, &corpus(f));
    }
    let setup = Builder::new()
        .mailbox(Mailbox::new(ID, &user, &pw).kind("shared").folders(r#"["INBOX", "\\Sent"]"#))
        .section("[direct]\nhost = \"smtp.provider.test\"\n")
        .section(&format!(
            "[doctor]\nresolver = \"127.0.0.1:{DNS_PORT}\"\nreports_mailbox = \"info\"\ndirect_ips = [\"192.0.2.25\"]\n"
        ))
        .open();
    let app = &setup.app;
    sync(app).await;

    // The collector's pass, as the daemon task runs it.
    let doctor = &app.config.doctor;
    let resolver = Resolver::new(doctor.resolver, doctor.timeout).unwrap();
    let blocks = reports::path_blocks(&resolver, &app.config).await;
    assert!(
        blocks.direct.iter().any(|b| b.contains("127.0.0.2".parse().unwrap())),
        "smtp.provider.test resolves to 127.0.0.2 on the stack's unbound: {blocks:?}"
    );
    let done = reports::collect(app, &blocks).unwrap();
    assert_eq!(
        done,
        reports::Collected { counted: 4, duplicates: 0, broken: 2, passed: 1 },
        "four reports, two broken, one ordinary mail"
    );

    let v = doctor_reports(&setup.config);
    assert_eq!(v["reports"], 4, "{v}");
    // [messages, dmarc_pass, dmarc_fail, spf_aligned, dkim_aligned, quarantined, rejected]
    assert_eq!(figures(path(&v, "direct")), [53, 53, 0, 53, 20, 0, 0], "{v}");
    assert_eq!(figures(path(&v, "relay")), [526, 210, 316, 210, 210, 316, 0], "{v}");
    assert_eq!(figures(path(&v, "unknown")), [6, 0, 6, 0, 0, 6, 0], "{v}");
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

    // Google sends the same report again: the daemon's collector (catching up at its start)
    // keeps it once.
    deliver(&user, &corpus("google.eml"));
    sync(app).await;
    let token = CancellationToken::new();
    let task = tokio::spawn(reports::run(app.clone(), token.clone()));
    let newest = app.store.dmarc().waiting(ID, Some("INBOX"), None, 0, 100).unwrap().last().unwrap().0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.store.dmarc().cursor(ID).unwrap() < newest {
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
        .args(["doctor", "reports", "--days", "36500", "--lang", "en"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("via the relay (relay): 526 messages, DMARC passed 210, failed 316"), "{text}");
    assert!(text.contains("Unreadable reports (2), skipped:"), "{text}");

    // `postbote doctor` puts the receivers' word under each DNS prediction (the corpus' day
    // may be outside its 7 days, so only the line itself is checked here; its wording is
    // pinned by the unit tests of `reports_text`).
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(&setup.config)
        .args(["doctor", "--lang", "en"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("  receivers' reports: last 7 days: ").count(), 2, "one line per path: {text}");
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(&setup.config)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(all.as_array().unwrap().iter().all(|p| p["received"]["days"] == 7), "{all}");
}
