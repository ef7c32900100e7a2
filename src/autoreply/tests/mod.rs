//! Table tests of the auto-responder, and the fixtures they share.
//!
//! The tests sit by the concern they check: `corpus.rs` runs the golden `.eml` corpus under
//! `tests/autoreply/` against its MANIFEST; `leave.rs` the leave and the recurring absence
//! across the Europe/Berlin DST changes; `addresses.rs` the SRS, return-path and
//! system-sender tables; `reply.rs` the rendered reply; `responder.rs` the loop's bookkeeping
//! and the reply history against a real SQLite store and outbox. This file holds what they
//! share: a two-mailbox config (an employee, `becker`, and a shared `info`), Berlin local
//! times, a leave, a corpus message at a given time, and an app with mail delivered into it.
//! `hostile_tests` borrows the config, corpus and time helpers too.

mod addresses;
mod corpus;
mod leave;
mod reply;
mod responder;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;

use super::decide::{self, Context, History, Incoming, Reason};
use super::settings::Settings;
use crate::app::App;
use crate::config::{Config, RawVacation};
use crate::store::Store;

pub(super) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/autoreply")
}

fn config_text(dir: &Path, vacation: &str) -> String {
    format!(
        r#"
[agent]
data_dir = "{d}"
time_zone = "Europe/Berlin"
[imap]
host = "localhost"
[relay]
host = "localhost"
[[mailbox]]
id = "becker"
name = "Hans Becker"
addresses = ["becker@bau-firma.test", "h.becker@bau-firma.test"]
hosted_address = "becker.bau-firma@handwerk.test"
password_file = "{d}/pw"
{vacation}
[[mailbox]]
id = "info"
kind = "shared"
name = "Bau-Firma Info"
addresses = ["info@bau-firma.test"]
hosted_address = "info.bau-firma@handwerk.test"
password_file = "{d}/pw"
"#,
        d = dir.display()
    )
}

pub(super) fn config(dir: &Path, vacation: &str) -> Config {
    std::fs::write(dir.join("pw"), "pw\n").unwrap();
    Config::parse(&config_text(dir, vacation), &dir.join("postbote.toml")).unwrap()
}

pub(super) fn local(s: &str) -> DateTime<Utc> {
    let n = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    Berlin.from_local_datetime(&n).earliest().unwrap().with_timezone(&Utc)
}

pub(super) fn leave(start: &str, end: &str) -> Settings {
    let raw = RawVacation {
        enabled: Some(true),
        start: Some(start.parse().unwrap()),
        end: Some(end.parse().unwrap()),
        subject: None,
        body: Some("Ich bin bis einschließlich 6. Januar im Urlaub. Grüße, Hans Becker".into()),
        body_html: None,
        internal_body: Some("Bin im Urlaub bis 6.1.".into()),
        interval: None,
        schedule: None,
        answer: None,
        max_per_hour: None,
        max_age: None,
    };
    Settings::from_config(&raw, Berlin).unwrap()
}

fn customer_at(at: DateTime<Utc>) -> Incoming {
    let raw = std::fs::read(corpus_dir().join("customer.eml")).unwrap();
    Incoming::parse(&raw, at, false, None)
}

fn decide_at(settings: &Settings, at: DateTime<Utc>) -> Reason {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ctx = Context { mailbox: cfg.mailbox("becker").unwrap(), time_zone: Berlin };
    decide::decide(&customer_at(at), &ctx, settings, &History::default(), at + chrono::Duration::seconds(30)).reason
}

fn app(dir: &Path, vacation: &str) -> App {
    let cfg = config(dir, vacation);
    let store = Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
    App::new(Arc::new(cfg), store)
}

fn deliver(app: &App, account: &str, folder: &str, role: &str, uid: u32, file: &str, at: DateTime<Utc>) -> i64 {
    let f = app.store.folders().ensure(account, folder, Some(role)).unwrap();
    let raw = std::fs::read(corpus_dir().join(file)).unwrap();
    let m = crate::store::messages::NewMessage {
        uid: Some(uid),
        modseq: None,
        flags: vec![],
        internal_date: at.timestamp(),
        raw,
    };
    app.store.messages().insert(account, f.id, vec![m], None).unwrap()[0]
}
