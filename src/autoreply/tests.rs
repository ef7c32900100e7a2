//! Table tests of the auto-responder: the corpus under `tests/autoreply/` with its MANIFEST,
//! leave boundaries across the Europe/Berlin DST changes, SRS and system-sender tables, the
//! rendered reply, and the loop's bookkeeping against a real SQLite store.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;

use super::decide::{
    self, Context, History, Incoming, Reason, decode_srs, emails_in, parse_return_path, system_sender,
};
use super::render;
use super::settings::{Answer, Settings};
use crate::app::App;
use crate::config::{Config, Mailbox, RawVacation};
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

struct Case {
    file: String,
    reason: String,
    opts: Vec<String>,
}

fn manifest() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("MANIFEST")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut w = l.split_whitespace();
            Case {
                file: w.next().unwrap().to_string(),
                reason: w.next().expect("a reason").to_string(),
                opts: w.map(String::from).collect(),
            }
        })
        .collect()
}

/// Every corpus message decided against a leave from 21 Dec to 6 Jan, arriving 2 Jan 10:00.
#[test]
fn corpus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let received = local("2027-01-02 10:00");
    let now = received + chrono::Duration::minutes(2);
    let cases = manifest();
    let mut failures = Vec::new();
    for c in &cases {
        let opt = |k: &str| c.opts.iter().find_map(|o| o.strip_prefix(&format!("{k}=")).map(str::to_string));
        let flag = |k: &str| c.opts.iter().any(|o| o == k);
        let mailbox: &Mailbox = cfg.mailbox(opt("mailbox").as_deref().unwrap_or("becker")).unwrap();
        let raw = std::fs::read(corpus_dir().join(&c.file)).unwrap_or_else(|e| panic!("{}: {e}", c.file));
        let msg = Incoming::parse(&raw, received, flag("junk"), Some(1));
        let mut settings = leave("2026-12-21", "2027-01-06");
        if opt("answer").as_deref() == Some("known") {
            settings.answer = Answer::Known;
        }
        let history = History {
            last_sent_to_sender: opt("sent").map(|h| now - chrono::Duration::hours(h.parse().unwrap())),
            pending_for_sender: flag("pending"),
            conversation_answered: flag("conversation"),
            replies_last_hour: opt("hour").map(|n| n.parse().unwrap()).unwrap_or(0),
            known_sender: flag("known"),
            watching_since: None,
        };
        let ctx = Context { mailbox, time_zone: Berlin };
        let d = decide::decide(&msg, &ctx, &settings, &history, now);
        assert!(Reason::from_code(&c.reason).is_some(), "{}: unknown reason code {}", c.file, c.reason);
        if d.reason.code() != c.reason || d.reply != (c.reason == "reply") {
            failures.push(format!("{} {:?}: expected {}, got {} ({})", c.file, c.opts, c.reason, d.reason, d.detail));
            continue;
        }
        if let Some(to) = opt("to")
            && msg.return_path.address() != Some(to.as_str())
        {
            failures.push(format!("{}: reply to {:?}, expected {to}", c.file, msg.return_path));
        }
        if flag("internal") != d.internal && d.reply {
            failures.push(format!("{}: internal = {}, expected {}", c.file, d.internal, flag("internal")));
        }
    }
    assert!(failures.is_empty(), "corpus failures:\n{}", failures.join("\n"));
    // Every file of the corpus is in the manifest, so none sits there untested.
    let listed: BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    for e in std::fs::read_dir(corpus_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".eml") {
            assert!(listed.contains(name.as_str()), "{name} is not in tests/autoreply/MANIFEST");
        }
    }
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

/// The leave ends with Sunday 25 Oct 2026 (the night clocks go back): 23:30 local is still
/// inside, 00:30 on the 26th is not; the spring change on 29 Mar 2026 likewise.
#[test]
fn leave_boundaries_across_dst_in_berlin() {
    let autumn = leave("2026-10-19", "2026-10-25");
    assert_eq!(autumn.to_date.unwrap().to_rfc3339(), "2026-10-25T23:00:00+00:00", "midnight CET after the 25th");
    let cases = [
        ("2026-10-25 23:30", Reason::Reply),
        ("2026-10-25 23:59", Reason::Reply),
        ("2026-10-26 00:00", Reason::OutsideLeave),
        ("2026-10-26 00:30", Reason::OutsideLeave),
        ("2026-10-19 00:00", Reason::Reply),
        ("2026-10-18 23:59", Reason::OutsideLeave),
    ];
    for (at, want) in cases {
        assert_eq!(decide_at(&autumn, local(at)), want, "autumn leave, message at {at}");
    }
    // 02:30 happens twice on 25 Oct; both are inside the leave.
    let first = Berlin.with_ymd_and_hms(2026, 10, 25, 2, 30, 0).earliest().unwrap().with_timezone(&Utc);
    let second = Berlin.with_ymd_and_hms(2026, 10, 25, 2, 30, 0).latest().unwrap().with_timezone(&Utc);
    assert_ne!(first, second);
    assert_eq!(decide_at(&autumn, first), Reason::Reply);
    assert_eq!(decide_at(&autumn, second), Reason::Reply);

    // Spring: the 29th has 23 hours; a leave of exactly that day.
    let spring = leave("2026-03-29", "2026-03-29");
    assert_eq!(spring.from_date.unwrap().to_rfc3339(), "2026-03-28T23:00:00+00:00", "midnight CET");
    assert_eq!(spring.to_date.unwrap().to_rfc3339(), "2026-03-29T22:00:00+00:00", "midnight CEST");
    let cases = [
        ("2026-03-28 23:59", Reason::OutsideLeave),
        ("2026-03-29 00:00", Reason::Reply),
        ("2026-03-29 03:00", Reason::Reply),
        ("2026-03-29 23:30", Reason::Reply),
        ("2026-03-30 00:00", Reason::OutsideLeave),
        ("2026-03-30 00:30", Reason::OutsideLeave),
    ];
    for (at, want) in cases {
        assert_eq!(decide_at(&spring, local(at)), want, "spring leave, message at {at}");
    }
}

/// A recurring absence ("outside office hours") is read in local time on both sides of a change.
#[test]
fn recurring_absence_is_local_time_across_dst() {
    let s = Settings {
        is_enabled: true,
        schedule: vec!["* 0-6,18-23 * * 1-5".into(), "* * * * 0,6".into()],
        ..Default::default()
    };
    let cases = [
        ("2026-10-23 17:59", Reason::OutsideLeave), // Friday, office open
        ("2026-10-23 18:00", Reason::Reply),        // Friday evening
        ("2026-10-25 12:00", Reason::Reply),        // Sunday
        ("2026-10-26 06:59", Reason::Reply),        // Monday early, first day of CET
        ("2026-10-26 07:00", Reason::OutsideLeave), // Monday 07:00 CET, office open
        ("2026-03-30 06:30", Reason::Reply),        // Monday early, first week of CEST
        ("2026-03-30 07:30", Reason::OutsideLeave),
    ];
    for (at, want) in cases {
        assert_eq!(decide_at(&s, local(at)), want, "office hours, message at {at}");
    }
    // A reply to Friday-evening mail is dropped if still queued on Monday 07:00.
    let end = decide::absence_end(&s, Berlin, local("2026-10-23 18:00")).unwrap();
    assert_eq!(end, local("2026-10-26 07:00"));
}

#[test]
fn leave_in_progress_and_stale_mail() {
    let s = leave("2026-12-21", "2027-01-06");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ctx = Context { mailbox: cfg.mailbox("becker").unwrap(), time_zone: Berlin };
    let at = local("2027-01-02 10:00");
    // Processed four days late (postbote was down): too old to answer.
    let d = decide::decide(&customer_at(at), &ctx, &s, &History::default(), at + chrono::Duration::days(4));
    assert_eq!(d.reason, Reason::TooOld);
    // Processed after the leave ended: no late reply.
    let d = decide::decide(
        &customer_at(local("2027-01-06 23:50")),
        &ctx,
        &s,
        &History::default(),
        local("2027-01-07 00:10"),
    );
    assert_eq!(d.reason, Reason::OutsideLeave);
    // Mail from before the responder watched the mailbox (first sync).
    let h = History { watching_since: Some(at + chrono::Duration::hours(1)), ..Default::default() };
    assert_eq!(decide::decide(&customer_at(at), &ctx, &s, &h, at).reason, Reason::InitialSync);
    // Switched off.
    let off = Settings { is_enabled: false, ..s.clone() };
    assert_eq!(decide::decide(&customer_at(at), &ctx, &off, &History::default(), at).reason, Reason::Disabled);
}

#[test]
fn srs_and_return_paths() {
    let cases: &[(&str, Option<&str>)] = &[
        ("SRS0=HHH=TT=example.org=user@forwarder.test", Some("user@example.org")),
        ("srs0+abcd=xy=kunde.test=a.b@fw.test", Some("a.b@kunde.test")),
        ("SRS0=HHH=TT=example.org=us=er@forwarder.test", Some("us=er@example.org")),
        ("SRS1=HHH=first.test==HHH=TT=example.org=user@second.test", Some("user@example.org")),
        ("user@example.org", None),
        ("SRS0=broken@forwarder.test", None),
        ("srsuser@example.org", None),
    ];
    for (a, want) in cases {
        assert_eq!(decode_srs(a).as_deref(), *want, "{a}");
    }
    assert_eq!(parse_return_path(" <> "), decide::ReturnPath::Null);
    assert_eq!(parse_return_path("<@relay.test:user@example.org>").address(), Some("user@example.org"));
    assert_eq!(parse_return_path("User@Example.ORG (comment)").address(), Some("user@example.org"));
    assert!(matches!(parse_return_path("<not an address>"), decide::ReturnPath::Invalid(_)));
    assert_eq!(emails_in("A <a@x.test>, \"B, C\" <b@y.test>"), vec!["a@x.test", "b@y.test"]);
    assert_eq!(emails_in("a@x.test, b@y.test (c)"), vec!["a@x.test", "b@y.test"]);
}

#[test]
fn system_senders() {
    for a in [
        "MAILER-DAEMON@x.test",
        "postmaster@x.test",
        "listserv@x.test",
        "Majordomo@x.test",
        "owner-list@x.test",
        "list-request@x.test",
        "noreply@x.test",
        "no-reply@x.test",
        "no_reply+123@x.test",
        "donotreply@x.test",
        "do-not-reply@x.test",
        "info-noreply@x.test",
        "bounces+abc=x.test@esp.test",
        "nicht-antworten@x.test",
    ] {
        assert!(system_sender(a).is_some(), "{a} should be a system sender");
    }
    for a in ["mueller@kunde.test", "reply@kunde.test", "norbert@kunde.test", "info@kunde.test", "owner@kunde.test"] {
        assert!(system_sender(a).is_none(), "{a} is a person");
    }
}

fn rendered(settings: &Settings, file: &str, internal: bool) -> (render::Reply, mail_parser::Message<'static>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let raw = std::fs::read(corpus_dir().join(file)).unwrap();
    let at = local("2027-01-02 10:00");
    let msg = Incoming::parse(&raw, at, false, None);
    let to = msg.return_path.address().unwrap().to_string();
    let ctx = Context { mailbox: cfg.mailbox("becker").unwrap(), time_zone: Berlin };
    let r = render::render(&msg, &ctx, settings, &to, internal, at, "0123abcd");
    let parsed = mail_parser::MessageParser::default().parse(&r.raw).unwrap().into_owned();
    (r, parsed)
}

#[test]
fn reply_headers_and_umlauts() {
    let s = leave("2026-12-21", "2027-01-06");
    let (r, p) = rendered(&s, "umlaut-subject.eml", false);
    let text = String::from_utf8_lossy(&r.raw).to_string();
    assert!(text.is_ascii(), "headers and body are 7-bit encoded:\n{text}");
    assert_eq!(p.subject(), Some("Automatische Antwort: Angebot für Bäder – Müller"));
    assert_eq!(p.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
    assert_eq!(p.header_raw("X-Auto-Response-Suppress").map(str::trim), Some("All"));
    assert_eq!(p.message_id(), Some("0123abcd@bau-firma.test"));
    assert_eq!(p.in_reply_to().as_text(), Some("uml1@kunde.test"));
    let refs: Vec<&str> = p.references().as_text_list().unwrap().iter().map(|s| s.as_ref()).collect();
    assert_eq!(refs, vec!["a0@bau-firma.test", "uml1@kunde.test"], "parent id last (RFC 5322)");
    let from = p.from().unwrap().first().unwrap();
    assert_eq!((from.name(), from.address()), (Some("Hans Becker"), Some("becker@bau-firma.test")));
    assert_eq!(p.to().unwrap().first().unwrap().address(), Some("boehm@kunde.test"));
    assert_eq!(p.date().unwrap().to_timestamp(), local("2027-01-02 10:00").timestamp());
    assert!(p.header_raw("Date").unwrap().trim().ends_with("+0100"), "local time in Berlin");
    assert_eq!(p.body_text(0).unwrap().trim(), "Ich bin bis einschließlich 6. Januar im Urlaub. Grüße, Hans Becker");
    assert!(
        p.header_raw("Content-Type").unwrap().trim().starts_with("text/plain"),
        "plain text only without an HTML text"
    );

    // HTML makes it multipart/alternative; the internal text is plain.
    let with_html = Settings { html_body: Some("<p>Bin im Urlaub. Grüße</p>".into()), ..s.clone() };
    let (_, p) = rendered(&with_html, "customer.eml", false);
    assert!(p.header_raw("Content-Type").unwrap().contains("multipart/alternative"));
    assert!(p.body_html(0).unwrap().contains("Grüße"));
    let (_, p) = rendered(&with_html, "internal-colleague.eml", true);
    assert_eq!(p.body_text(0).unwrap().trim(), "Bin im Urlaub bis 6.1.");
    assert!(p.header_raw("Content-Type").unwrap().trim().starts_with("text/plain"));
}

#[test]
fn subject_templates() {
    let mut s = Settings::default();
    assert_eq!(render::subject(&s, "Angebot"), "Automatische Antwort: Angebot");
    assert_eq!(render::subject(&s, "Automatische Antwort: Angebot"), "Automatische Antwort: Angebot", "no pile-up");
    assert_eq!(render::subject(&s, "  "), "Automatische Antwort");
    s.subject = Some("Abwesenheit: {subject}".into());
    assert_eq!(render::subject(&s, "Rückfrage"), "Abwesenheit: Rückfrage");
    assert_eq!(render::subject(&s, ""), "Abwesenheit");
    assert_eq!(render::subject(&s, &"x".repeat(500)).chars().count(), 200);
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

/// The config's leave is applied once; a later change from the CLI or a phone survives a
/// restart until the config itself changes; saving logs a VacationResponse change.
#[test]
fn config_seeds_settings_once_and_saving_logs_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let vac = "[mailbox.vacation]\nstart = 2026-12-21\nend = 2027-01-06\nbody = \"Urlaub\"\n";
    let a = app(dir.path(), vac);
    assert_eq!(super::apply_config(&a).unwrap(), vec!["becker"]);
    let s = super::load_settings(&a, "becker").unwrap();
    assert!(s.is_enabled);
    assert_eq!(s.to_date.unwrap().to_rfc3339(), "2027-01-06T23:00:00+00:00");
    let state_before = a.store.account_state("becker").unwrap().unwrap().0;
    let mut changed = s.clone();
    changed.text_body = Some("Urlaub bis 7.1.".into());
    super::save_settings(&a, "becker", &changed).unwrap();
    assert!(a.store.account_state("becker").unwrap().unwrap().0 > state_before, "modseq moved");
    let logged: i64 = a
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM change_log WHERE account = 'becker' AND type = 6 AND object_id = 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(logged, 2, "created by the config, updated by the save");
    // Restart with the same config: the phone's text stays.
    assert!(super::apply_config(&a).unwrap().is_empty());
    assert_eq!(super::load_settings(&a, "becker").unwrap().text_body.as_deref(), Some("Urlaub bis 7.1."));
    // Invalid settings are refused.
    let bad = Settings { interval_secs: 3600, ..changed };
    assert!(super::save_settings(&a, "becker", &bad).is_err());
    assert!(matches!(super::load_settings(&a, "nobody"), Err(super::AutoreplyError::UnknownMailbox(_))));
}

/// The loop: old mail of the first sync is passed over, new mail is decided once and recorded
/// with its reason, a copy with the same Message-ID is not decided again, Junk is spam,
/// other folders are ignored.
#[test]
fn loop_records_every_decision_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    let now = Utc::now();
    let mut s = Settings { is_enabled: true, ..Default::default() };
    s.from_date = Some(now - chrono::Duration::days(1));
    super::save_settings(&a, "becker", &s).unwrap();
    let m = a.config.mailbox("becker").unwrap().clone();
    // Armed now: mail received before is the first sync.
    deliver(&a, "becker", "INBOX", "inbox", 1, "customer.eml", now - chrono::Duration::hours(2));
    assert_eq!(super::pass(&a, &m, now).unwrap(), 0);
    let later = now + chrono::Duration::minutes(5);
    deliver(&a, "becker", "INBOX", "inbox", 2, "mailing-list.eml", later);
    deliver(&a, "becker", "INBOX", "inbox", 3, "umlaut-subject.eml", later);
    deliver(&a, "becker", "Junk", "junk", 1, "in-junk.eml", later);
    deliver(&a, "becker", "Sent", "sent", 1, "own-address.eml", later);
    deliver(&a, "becker", "Archive", "archive", 1, "mailing-list.eml", later);
    assert_eq!(super::pass(&a, &m, later + chrono::Duration::seconds(5)).unwrap(), 3);
    assert_eq!(super::pass(&a, &m, later + chrono::Duration::seconds(10)).unwrap(), 0, "nothing is decided twice");
    let counts: std::collections::BTreeMap<String, i64> =
        a.store.autoreply().counts("becker").unwrap().into_iter().collect();
    assert_eq!(counts.get("list_header"), Some(&1));
    assert_eq!(counts.get("reply"), Some(&1));
    assert_eq!(counts.get("spam"), Some(&1));
    assert_eq!(counts.values().sum::<i64>(), 3);
    assert_eq!(a.store.autoreply().cursor("becker").unwrap().unwrap().initial_skipped, 1);
    let recent = a.store.autoreply().recent("becker", 10).unwrap();
    let reply = recent.iter().find(|r| r.reason == "reply").unwrap();
    assert_eq!(reply.sender.as_deref(), Some("boehm@kunde.test"));
    // Whether the outbox took it or refused it, the record says so.
    assert!(reply.reply_state.is_some() || reply.detail.contains("not queued"), "{reply:?}");
    // `status` counts by reason.
    let s = super::status(&a, "becker").unwrap();
    assert!(s.decisions.contains(&("list_header".into(), 1)), "{s:?}");
    assert!(s.decisions.contains(&("spam".into(), 1)), "{s:?}");
    assert_eq!(s.initial_sync_skipped, 1);
    assert!(s.settings.is_enabled, "{s:?}");
    // The outbox's verdict shows at once, before the responder's next pass records it.
    let open = a.store.autoreply().open_replies("becker").unwrap();
    assert_eq!(open.len(), 1, "the reply waits in the queue (no office session)");
    assert!(crate::outbox::cancel(&a, open[0].1, "test").unwrap());
    let s = super::status(&a, "becker").unwrap();
    assert_eq!(s.replies, [("cancelled".to_string(), 1)], "{s:?}");
}

/// A reply's record takes the outbox's state as it is when the decision is recorded (the
/// queue may have moved it already), and follows every later change in the outbox's own
/// transaction: nobody polls, and no pass is needed for the record to be true.
#[test]
fn a_reply_record_follows_the_outbox_without_a_pass() {
    use crate::store::autoreply::{DecisionRecord, ReplyRecord};
    use crate::store::outbox::NewOutboxMessage;
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    a.store.autoreply().arm("info", 0).unwrap();
    let queue = || {
        a.store
            .outbox()
            .insert(&NewOutboxMessage {
                account: "info".into(),
                origin: "autoreply",
                message_id: "r@bau-firma.test".into(),
                from_addr: "info@bau-firma.test".into(),
                subject: "Auto: x".into(),
                raw: b"From: info@bau-firma.test\r\n\r\nx\r\n".to_vec(),
                recipients: vec!["k@kunde.test".into()],
                discard_after: None,
            })
            .unwrap()
    };
    let record = |outbox_id: i64| {
        let d = DecisionRecord {
            message: None,
            rfc_message_id: None,
            sender: Some("k@kunde.test".into()),
            subject: String::new(),
            reply: true,
            reason: "reply".into(),
            detail: String::new(),
        };
        let r = ReplyRecord {
            sender: "k@kunde.test".into(),
            thread_id: None,
            outbox_id,
            message_id: "r@bau-firma.test".into(),
        };
        a.store.autoreply().record("info", &d, Some(&r), None).unwrap();
    };
    let states = || a.store.autoreply().reply_states("info").unwrap();
    // The queue cancelled it before the decision was recorded: the record says so.
    let early = queue();
    assert!(crate::outbox::cancel(&a, early, "test").unwrap());
    record(early);
    assert_eq!(states(), vec![("cancelled".to_string(), 1)]);
    // Recorded while queued, then cancelled: the record follows at once.
    let late = queue();
    record(late);
    assert_eq!(states(), vec![("cancelled".to_string(), 1), ("queued".to_string(), 1)]);
    assert!(crate::outbox::cancel(&a, late, "test").unwrap());
    assert_eq!(states(), vec![("cancelled".to_string(), 2)]);
}

/// The history the store gives `decide`: only sent replies count as answered, queued ones
/// block a second reply, cancelled ones count for nothing, `memory_since` forgets.
#[test]
fn reply_history_follows_the_outbox_state() {
    use crate::store::autoreply::{DecisionRecord, ReplyRecord};
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    a.store.autoreply().arm("info", 0).unwrap();
    let rec = |sender: &str, thread: i64, outbox_id: i64| {
        let d = DecisionRecord {
            message: None,
            rfc_message_id: None,
            sender: Some(sender.into()),
            subject: String::new(),
            reply: true,
            reason: "reply".into(),
            detail: String::new(),
        };
        let r = ReplyRecord {
            sender: sender.into(),
            thread_id: Some(thread),
            outbox_id,
            message_id: format!("r{outbox_id}@bau-firma.test"),
        };
        a.store.autoreply().record("info", &d, Some(&r), None).unwrap();
        a.store.autoreply().open_replies("info").unwrap().into_iter().find(|(_, o, _)| *o == outbox_id).unwrap().0
    };
    let now = crate::store::now();
    let r1 = rec("a@kunde.test", 10, 101);
    let h = a.store.autoreply().history("info", "a@kunde.test", Some(10), 0, now).unwrap();
    assert!(h.pending_for_sender && h.conversation_answered && h.last_sent_to_sender.is_none());
    assert_eq!(h.replies_last_hour, 1);
    a.store.autoreply().set_reply_state(r1, "sent", now).unwrap();
    let h = a.store.autoreply().history("info", "a@kunde.test", Some(10), 0, now).unwrap();
    assert!(!h.pending_for_sender && h.conversation_answered);
    assert_eq!(h.last_sent_to_sender, Some(now));
    let r2 = rec("b@kunde.test", 11, 102);
    a.store.autoreply().set_reply_state(r2, "cancelled", now).unwrap();
    let h = a.store.autoreply().history("info", "b@kunde.test", Some(11), 0, now).unwrap();
    assert!(!h.pending_for_sender && !h.conversation_answered && h.last_sent_to_sender.is_none());
    // A memory reset forgets the sent reply.
    let h = a.store.autoreply().history("info", "a@kunde.test", Some(10), now + 1, now).unwrap();
    assert!(!h.conversation_answered && h.last_sent_to_sender.is_none());
}

/// "Known" correspondents: recipients of mail in the Sent folder, not of our own auto-replies.
#[test]
fn known_correspondents_come_from_the_sent_folder() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    let f = a.store.folders().ensure("becker", "Sent", Some("sent")).unwrap();
    let raw = b"From: becker@bau-firma.test\r\nTo: Kunde <Mueller@Kunde.test>\r\nCc: lange@architekten.test\r\nMessage-ID: <s1@bau-firma.test>\r\nSubject: Angebot\r\n\r\nx".to_vec();
    let m = crate::store::messages::NewMessage { uid: Some(1), modseq: None, flags: vec![], internal_date: 0, raw };
    a.store.messages().insert("becker", f.id, vec![m], None).unwrap();
    let known = |addr: &str| a.store.autoreply().known_correspondent("becker", Some("sent"), None, &[addr]).unwrap();
    assert!(known("mueller@kunde.test"));
    assert!(known("lange@architekten.test"));
    assert!(!known("fremd@kunde.test"));
}

/// Dates and a recurring absence add up; a leave that is over does not stop the recurring one.
#[test]
fn dates_and_schedule_add_up() {
    let s = Settings {
        is_enabled: true,
        from_date: Some(local("2026-12-21 00:00")),
        to_date: Some(local("2027-01-07 00:00")),
        schedule: vec!["* 0-6,18-23 * * 1-5".into()],
        ..Default::default()
    };
    assert_eq!(decide_at(&s, local("2026-12-28 11:00")), Reason::Reply, "holiday, daytime");
    assert_eq!(decide_at(&s, local("2027-01-12 11:00")), Reason::OutsideLeave, "after the holiday, office hours");
    assert_eq!(decide_at(&s, local("2027-01-12 19:00")), Reason::Reply, "after the holiday, evening");
    // Friday-evening mail looked at on Monday at 08:00: the office is open again, no late reply.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ctx = Context { mailbox: cfg.mailbox("becker").unwrap(), time_zone: Berlin };
    let d = decide::decide(
        &customer_at(local("2027-01-15 19:00")),
        &ctx,
        &s,
        &History::default(),
        local("2027-01-18 08:00"),
    );
    assert_eq!(d.reason, Reason::OutsideLeave, "{}", d.detail);
}

/// With the real outbox queue: a shared mailbox answers a conversation once; an employee's
/// sender is not answered twice while the first reply waits, and is again once that reply
/// was cancelled (it never went out).
#[test]
fn queued_replies_block_per_conversation_and_per_sender() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    let now = Utc::now();
    let on = Settings { is_enabled: true, ..Default::default() };
    super::save_settings(&a, "info", &on).unwrap();
    super::save_settings(&a, "becker", &on).unwrap();
    let info = a.config.mailbox("info").unwrap().clone();
    let becker = a.config.mailbox("becker").unwrap().clone();
    super::pass(&a, &info, now).unwrap();
    super::pass(&a, &becker, now).unwrap();
    let t = now + chrono::Duration::seconds(5);
    deliver(&a, "info", "INBOX", "inbox", 1, "shared-first.eml", t);
    deliver(&a, "info", "INBOX", "inbox", 2, "shared-second.eml", t);
    super::pass(&a, &info, t).unwrap();
    let reasons: Vec<String> =
        a.store.autoreply().recent("info", 10).unwrap().into_iter().rev().map(|d| d.reason).collect();
    assert_eq!(reasons, vec!["reply", "conversation_answered"]);
    let first = &a.store.autoreply().recent("info", 10).unwrap()[1];
    assert_eq!(first.reply_state.as_deref(), Some("queued"), "{first:?}");

    // Employee: the same sender twice while the reply waits.
    deliver(&a, "becker", "INBOX", "inbox", 1, "customer.eml", t);
    deliver(&a, "becker", "INBOX", "inbox", 2, "umlaut-subject.eml", t);
    super::pass(&a, &becker, t).unwrap();
    let raw = std::fs::read(corpus_dir().join("customer.eml")).unwrap();
    let again = String::from_utf8(raw).unwrap().replace("<c1.20270102@kunde.test>", "<c2.20270102@kunde.test>");
    let f = a.store.folders().by_name("becker", "INBOX").unwrap().unwrap();
    let m = crate::store::messages::NewMessage {
        uid: Some(3),
        modseq: None,
        flags: vec![],
        internal_date: t.timestamp(),
        raw: again.clone().into_bytes(),
    };
    a.store.messages().insert("becker", f.id, vec![m], None).unwrap();
    super::pass(&a, &becker, t).unwrap();
    let recent = a.store.autoreply().recent("becker", 10).unwrap();
    assert_eq!(recent[0].reason, "reply_pending", "{recent:?}");
    // The waiting reply is cancelled (the leave ended): the sender was never answered.
    let (_, outbox_id, _) = a.store.autoreply().open_replies("becker").unwrap()[0];
    assert!(crate::outbox::cancel(&a, outbox_id, "test").unwrap());
    let m = crate::store::messages::NewMessage {
        uid: Some(4),
        modseq: None,
        flags: vec![],
        internal_date: t.timestamp(),
        raw: again.replace("<c2.20270102@kunde.test>", "<c3.20270102@kunde.test>").into_bytes(),
    };
    a.store.messages().insert("becker", f.id, vec![m], None).unwrap();
    super::pass(&a, &becker, t).unwrap();
    let recent = a.store.autoreply().recent("becker", 10).unwrap();
    assert_eq!(recent[0].reason, "reply", "{recent:?}");
    assert_eq!(recent[1].reply_state, None);
    assert_eq!(recent[3].reply_state.as_deref(), Some("cancelled"), "{recent:?}");
}

/// A queued reply is dropped at the end of the absence, or after `max_age`, whichever is first.
#[test]
fn queued_replies_expire_with_the_leave_or_their_age() {
    let now = local("2027-01-02 10:00");
    let s = leave("2026-12-21", "2027-01-03");
    assert_eq!(super::discard_after(&s, Berlin, now, now), local("2027-01-04 00:00"), "the leave ends first");
    let s = leave("2026-12-21", "2027-01-31");
    assert_eq!(super::discard_after(&s, Berlin, now, now), now + chrono::Duration::days(3), "max_age is first");
}

/// Regression: a plain SQLite rowid hands the id of a deleted last row to the next insert. A
/// message expunged right after it was decided must not hide the next one from the cursor,
/// and the next one must get a new id (the store uses AUTOINCREMENT since).
#[test]
fn a_message_after_an_expunged_one_is_decided_under_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let a = app(dir.path(), "");
    super::save_settings(&a, "becker", &Settings { is_enabled: true, ..Default::default() }).unwrap();
    let m = a.config.mailbox("becker").unwrap().clone();
    let now = Utc::now();
    super::pass(&a, &m, now).unwrap();
    let t = now + chrono::Duration::seconds(5);
    let first = deliver(&a, "becker", "INBOX", "inbox", 1, "spam-flagged.eml", t);
    assert_eq!(super::pass(&a, &m, t).unwrap(), 1);
    let inbox = a.store.folders().by_name("becker", "INBOX").unwrap().unwrap();
    assert_eq!(a.store.messages().expunge("becker", inbox.id, &[1], None).unwrap(), 1);
    let second = deliver(&a, "becker", "INBOX", "inbox", 2, "customer.eml", t);
    assert!(second > first, "ids are never reused: {second} after {first}");
    assert_eq!(super::pass(&a, &m, t).unwrap(), 1, "the new message is decided");
    assert_eq!(a.store.autoreply().recent("becker", 1).unwrap()[0].sender.as_deref(), Some("mueller@kunde.test"));
}
