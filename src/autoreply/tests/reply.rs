//! The rendered reply: its headers (threading, Auto-Submitted, 7-bit encoding of umlauts,
//! local Date), the plain and HTML texts, the internal text, and the subject templates.

use chrono_tz::Europe::Berlin;

use super::{config, corpus_dir, leave, local};
use crate::autoreply::decide::{Context, Incoming};
use crate::autoreply::render;
use crate::autoreply::settings::Settings;

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
