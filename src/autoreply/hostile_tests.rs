//! Hostile mail must never make postbote answer: every safety rule is tried with raw 8-bit
//! (Latin-1) bytes, odd letter case and folding in its header, a property test adds any one
//! skip header to every corpus message, addresses are held to the RFC 5321 limits, and the
//! reply's headers cannot be split by a line break from the settings or the incoming message.

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Berlin;
use proptest::prelude::*;

use super::decide::{self, Context, History, Incoming, Reason, address_problem, system_sender};
use super::render;
use super::settings::Settings;
use super::tests::{config, corpus_dir, leave, local};

fn received() -> DateTime<Utc> {
    local("2027-01-02 10:00")
}

/// The decision for `raw` in the employee mailbox during the corpus's leave.
fn decide_raw(raw: &[u8]) -> decide::Decision {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ctx = Context { mailbox: cfg.mailbox("becker").unwrap(), time_zone: Berlin };
    let msg = Incoming::parse(raw, received(), false, Some(1));
    let settings = leave("2026-12-21", "2027-01-06");
    decide::decide(&msg, &ctx, &settings, &History::default(), received() + chrono::Duration::minutes(2))
}

/// One header that must stop a reply, and the reason it stops it with.
struct SkipHeader {
    name: &'static str,
    value: &'static str,
    reason: Reason,
}

const SKIP_HEADERS: &[SkipHeader] = &[
    SkipHeader { name: "Auto-Submitted", value: "auto-replied", reason: Reason::AutoSubmitted },
    SkipHeader { name: "Auto-Submitted", value: "auto-generated", reason: Reason::AutoSubmitted },
    SkipHeader { name: "Auto-Submitted", value: "auto-notified", reason: Reason::AutoSubmitted },
    SkipHeader { name: "List-Id", value: "Rundbrief <rundbrief.kunde.test>", reason: Reason::ListHeader },
    SkipHeader { name: "List-Unsubscribe", value: "<mailto:leave@lists.kunde.test>", reason: Reason::ListHeader },
    SkipHeader { name: "List-Post", value: "<mailto:l@lists.kunde.test>", reason: Reason::ListHeader },
    SkipHeader { name: "List-Help", value: "<mailto:help@lists.kunde.test>", reason: Reason::ListHeader },
    SkipHeader { name: "Precedence", value: "bulk", reason: Reason::PrecedenceBulk },
    SkipHeader { name: "Precedence", value: "list", reason: Reason::PrecedenceBulk },
    SkipHeader { name: "Precedence", value: "junk", reason: Reason::PrecedenceBulk },
    SkipHeader { name: "X-Auto-Response-Suppress", value: "OOF", reason: Reason::SuppressedBySender },
    SkipHeader { name: "X-Auto-Response-Suppress", value: "DR, All", reason: Reason::SuppressedBySender },
    SkipHeader { name: "X-Spam-Flag", value: "YES", reason: Reason::Spam },
    SkipHeader { name: "X-Spam-Status", value: "Yes, score=9.1 required=5.0", reason: Reason::Spam },
    // Stands for 31 Received headers (more than MAX_RECEIVED).
    SkipHeader { name: "Received", value: "from relay.kunde.test by mx.kunde.test", reason: Reason::LoopSuspected },
];

/// How a header is written: letter case of name and value, folding, a Latin-1 comment.
#[derive(Debug, Clone)]
struct Form {
    name_case: u64,
    value_case: u8,
    fold_after_colon: bool,
    fold_before_comment: bool,
    eight_bit: bool,
}

fn form() -> impl Strategy<Value = Form> {
    (any::<u64>(), 0u8..3, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(name_case, value_case, fold_after_colon, fold_before_comment, eight_bit)| Form {
            name_case,
            value_case,
            fold_after_colon,
            fold_before_comment,
            eight_bit,
        },
    )
}

/// The header lines (without line ends) for `h` written in `form`.
fn header_lines(h: &SkipHeader, form: &Form) -> Vec<Vec<u8>> {
    let name: String = h
        .name
        .chars()
        .enumerate()
        .map(|(i, c)| if form.name_case >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
        .collect();
    let value = match form.value_case {
        0 => h.value.to_string(),
        1 => h.value.to_ascii_uppercase(),
        _ => h.value.to_ascii_lowercase(),
    };
    let mut lines = vec![format!("{name}:").into_bytes()];
    if form.fold_after_colon {
        lines.push(format!(" {value}").into_bytes());
    } else {
        lines[0].extend_from_slice(format!(" {value}").as_bytes());
    }
    if form.eight_bit {
        let comment = b"(Gr\xfc\xdfe f\xfcr Sie)";
        if form.fold_before_comment {
            lines.push([b"\t".as_slice(), comment].concat());
        } else {
            let last = lines.last_mut().unwrap();
            last.push(b' ');
            last.extend_from_slice(comment);
        }
    }
    lines
}

/// `raw` with `added` inserted before its `at`-th header field (modulo the count), with the
/// message's own line ends.
fn with_header(raw: &[u8], added: &[Vec<u8>], at: usize) -> Vec<u8> {
    let crlf = raw.windows(2).any(|w| w == b"\r\n");
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let end = crate::message::find_header_end(raw);
    let (head, body) = raw.split_at(end);
    let text: Vec<&[u8]> = head.split(|b| *b == b'\n').collect();
    let starts: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, l)| l.first().is_some_and(|b| *b != b' ' && *b != b'\t' && *b != b'\r'))
        .map(|(i, _)| i)
        .collect();
    let insert_at = starts[at % starts.len()];
    let mut out = Vec::new();
    for (i, line) in text.iter().enumerate() {
        if i == insert_at {
            for l in added {
                out.extend_from_slice(l);
                out.extend_from_slice(eol);
            }
        }
        out.extend_from_slice(line);
        if i + 1 < text.len() {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(body);
    out
}

fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Adding any one skip header, in any letter case, folding or 8-bit form, at any place
    /// in the header, to any corpus message never gives a reply; a message that was answered
    /// is then skipped for exactly that header's reason.
    #[test]
    fn a_skip_header_never_turns_into_a_reply(
        file in any::<prop::sample::Index>(),
        which in 0..SKIP_HEADERS.len(),
        form in form(),
        at in any::<usize>(),
    ) {
        let files = corpus_files();
        let (name, raw) = &files[file.index(files.len())];
        let h = &SKIP_HEADERS[which];
        let mut added = Vec::new();
        let copies = if h.reason == Reason::LoopSuspected { decide::MAX_RECEIVED + 1 } else { 1 };
        for _ in 0..copies {
            added.extend(header_lines(h, &form));
        }
        let before = decide_raw(raw);
        let hostile = with_header(raw, &added, at);
        let after = decide_raw(&hostile);
        prop_assert!(
            !after.reply,
            "{name} with {} {:?} was answered: {}\n{}",
            h.name, form, after.detail, String::from_utf8_lossy(&hostile)
        );
        if before.reply {
            prop_assert_eq!(after.reason, h.reason, "{} with {}: {}", name, h.name, after.detail);
        }
    }
}

/// Each rule in its 8-bit form, as the corpus has it, with the ASCII twin beside it.
#[test]
fn every_safety_rule_sees_its_header_with_a_latin1_byte() {
    let base = std::fs::read(corpus_dir().join("customer.eml")).unwrap();
    assert!(decide_raw(&base).reply, "the base message is answered");
    for h in SKIP_HEADERS {
        for eight_bit in [false, true] {
            let form = Form {
                name_case: 0x5555,
                value_case: 0,
                fold_after_colon: false,
                fold_before_comment: eight_bit,
                eight_bit,
            };
            let copies = if h.reason == Reason::LoopSuspected { decide::MAX_RECEIVED + 1 } else { 1 };
            let added: Vec<Vec<u8>> = (0..copies).flat_map(|_| header_lines(h, &form)).collect();
            let d = decide_raw(&with_header(&base, &added, 3));
            assert_eq!(d.reason, h.reason, "{}: {} (8-bit: {eight_bit}): {}", h.name, h.value, d.detail);
        }
    }
}

#[test]
fn latin1_received_headers_are_all_counted() {
    let raw = std::fs::read(corpus_dir().join("loop-received-8bit.eml")).unwrap();
    let msg = Incoming::parse(&raw, received(), false, None);
    assert_eq!(msg.received_count, 33, "31 Latin-1 Received headers and the two ASCII ones");
}

#[test]
fn addresses_are_held_to_rfc_5321_limits() {
    let local64 = "a".repeat(64);
    assert_eq!(address_problem(&format!("{local64}@kunde.test")), None);
    assert!(address_problem(&format!("{local64}a@kunde.test")).unwrap().contains("local part has 65 octets"));
    // A domain of 255 octets passes the domain limit but not the path limit (256 with "<>").
    let label = "d".repeat(63);
    let domain = format!("{label}.{label}.{label}.{}.test", "d".repeat(58));
    assert_eq!(domain.len(), 255);
    assert!(address_problem(&format!("a@{domain}")).unwrap().contains("as a path"));
    assert!(address_problem(&format!("a@{domain}x")).unwrap().contains("domain has 256 octets"));
    let path_ok = format!("{}@{}.test", "a".repeat(60), "b".repeat(188));
    assert_eq!(path_ok.len() + 2, 256);
    assert_eq!(address_problem(&path_ok), None);
    assert!(address_problem("a@b@kunde.test").unwrap().contains("2 '@'"));
    assert!(address_problem("kunde.test").unwrap().contains("0 '@'"));
    // And the decision names the limit.
    let raw = std::fs::read(corpus_dir().join("long-local-part.eml")).unwrap();
    let d = decide_raw(&raw);
    assert_eq!(d.reason, Reason::EmptyReturnPath);
    assert!(d.detail.contains("65 octets"), "{}", d.detail);
    // An SRS address whose decoded original breaks a limit is no destination either.
    let srs = format!("SRS0=HHH=TT=kunde.test={}@fw.test", "x".repeat(65));
    assert!(matches!(decide::parse_return_path(&srs), decide::ReturnPath::Invalid(_)));
}

#[test]
fn list_and_system_local_parts_match_by_prefix_or_suffix() {
    for person in ["quote-requests@kunde.test", "requester@kunde.test", "co-owner-x@kunde.test", "ownership@kunde.test"]
    {
        assert_eq!(system_sender(person), None, "{person} is a person");
    }
    for machine in ["handwerk-l-request@lists.test", "owner-handwerk-l@lists.test", "handwerk-l-owner@lists.test"] {
        assert!(system_sender(machine).is_some(), "{machine} is a list address");
    }
}

/// A subject template or a display name with CR/LF, and hostile ids in the incoming message,
/// never add a header to the reply.
#[test]
fn no_header_of_the_reply_can_be_split_by_a_line_break() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let mut mailbox = cfg.mailbox("becker").unwrap().clone();
    mailbox.name = "Hans Becker\r\nBcc: name@evil.test".into();
    let ctx = Context { mailbox: &mailbox, time_zone: Berlin };
    let raw = b"Return-Path: <k@kunde.test>\r\nFrom: k@kunde.test\r\nTo: becker@bau-firma.test\r\n\
Subject: Frage\r\nMessage-ID: <ok@kunde.test>\r\nReferences: <a@x.test>\r\n\r\nHallo\r\n";
    let mut msg = Incoming::parse(raw, received(), false, None);
    msg.subject = "Frage\r\nBcc: subject@evil.test".into();
    msg.references.push("b@x.test>\r\nBcc: <ref@evil.test".into());
    let mut settings = leave("2026-12-21", "2027-01-06");
    settings.subject = Some("Abwesend\r\nBcc: template@evil.test\n{subject}".into());
    let reply = render::render(&msg, &ctx, &settings, "k@kunde.test", false, received(), "r1");
    let text = String::from_utf8_lossy(&reply.raw);
    let head = &text[..text.find("\r\n\r\n").unwrap()];
    for line in head.split("\r\n") {
        assert!(!line.to_ascii_lowercase().starts_with("bcc"), "a header was injected: {line:?}\n{head}");
    }
    assert!(!head.contains("evil.test>") || !head.contains("\r\nBcc"), "{head}");
    let parsed = mail_parser::MessageParser::default().parse(&reply.raw).unwrap();
    assert!(parsed.bcc().is_none());
    assert!(!parsed.subject().unwrap().contains(['\r', '\n']));
    let refs: Vec<&str> = parsed.references().as_text_list().unwrap().iter().map(|s| s.as_ref()).collect();
    assert_eq!(refs, vec!["a@x.test", "ok@kunde.test"], "the hostile id is left out");
    assert_eq!(parsed.from().unwrap().first().unwrap().address(), Some("becker@bau-firma.test"));

    // Settings with a line break in the subject are refused with a reason.
    let err = settings.validate().unwrap_err().to_string();
    assert!(err.contains("subject contains a line break"), "{err}");
    let fine = Settings { subject: Some("Abwesend: {subject}".into()), ..settings };
    fine.validate().unwrap();
}
