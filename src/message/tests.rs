//! Tests of the message parser: parsing, the search text's forms (proptests against the general
//! way) and snippets.

use super::*;

#[test]
fn rfc2047_umlaut_subject_and_latin1_body() {
    let raw = b"From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <mueller@kunde.test>\r\n\
To: becker@bau-firma.de\r\n\
Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Badsanierung_=E2=80=93_M=C3=BCller?=\r\n\
Date: Mon, 2 Nov 2026 09:15:00 +0100\r\n\
Message-ID: <abc@kunde.test>\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n\
Gr\xfc\xdfe aus K\xf6ln, bitte um R\xfcckruf.\r\n";
    let p = parse(raw);
    assert_eq!(p.subject, "Angebot für Badsanierung – Müller");
    assert_eq!(p.from[0].name.as_deref(), Some("Jürgen Müller"));
    assert_eq!(p.preview, "Grüße aus Köln, bitte um Rückruf.");
    assert_eq!(p.message_id.as_deref(), Some("abc@kunde.test"));
    assert_eq!(p.sent_at, Some(1_793_607_300));
    assert!(p.problem.is_none());
}

#[test]
fn raw_8bit_latin1_subject_is_read_as_windows_1252() {
    let raw = b"From: a@b.test\nSubject: Pr\xfcfung der Rechnung\nDate: Mon, 2 Nov 2026 09:15:00 +0100\n\nx\n";
    assert_eq!(parse(raw).subject, "Prüfung der Rechnung");
}

/// mail-parser's `headers_raw` leaves out a value that is not UTF-8; `header_fields` keeps
/// it, unfolded, and counts every occurrence.
#[test]
fn header_fields_keep_raw_8bit_values_and_every_repeat() {
    let raw: &[u8] = &[
        &b"Received: from a.m\xfcnchen.test\r\nReceived: from b\r\n\tby c\r\n"[..],
        b"Auto-Submitted :\r\n auto-replied (f\xfcr)\r\n more\r\nno colon here\r\n",
        b"Subject: x\r\n\r\nReceived: in the body\r\n",
    ]
    .concat();
    let mut mp: Vec<String> = Vec::new();
    for (n, _) in MessageParser::default().parse(raw).unwrap().headers_raw() {
        mp.push(n.to_string());
    }
    assert!(!mp.iter().any(|n| n == "Auto-Submitted"), "mail-parser drops the 8-bit value: {mp:?}");
    let f = header_fields(raw);
    let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Received", "Received", "Auto-Submitted", "Subject"]);
    assert_eq!(f[0].1, " from a.münchen.test");
    assert_eq!(f[1].1, " from b\tby c");
    assert_eq!(f[2].1, " auto-replied (für) more");
}

#[test]
fn malformed_input_is_flagged_not_lost() {
    for raw in [&b""[..], b"\x00\x01\x02garbage without headers", b"Subject: only\r\n\r\nbody"] {
        let p = parse(raw);
        assert!(p.problem.is_some(), "{raw:?} should be flagged");
    }
}

#[test]
fn whitespace_is_squashed_and_cut_at_the_limit() {
    assert_eq!(squash_whitespace("  Grüße \r\n aus\tKöln  ", 100), "Grüße aus Köln");
    assert_eq!(squash_whitespace("Grüße aus Köln", 8), "Grüße au");
    assert_eq!(squash_whitespace("Grüße aus", 5), "Grüße ");
    assert_eq!(squash_whitespace("äöü", 2), "äö");
    assert_eq!(squash_whitespace("", 2), "");
    assert_eq!(squash_whitespace("a\x0Bb \x0C c", 10), "a b c");
    assert_eq!(squash_whitespace("a\u{a0}b\u{2003}c", 10), "a b c");
}

#[test]
fn the_header_ends_at_the_first_blank_line_of_either_kind() {
    assert_eq!(find_header_end(b"A: b\r\n\r\nbody\n\nmore"), 8);
    assert_eq!(find_header_end(b"A: b\n\nbody\r\n\r\nmore"), 6);
    assert_eq!(find_header_end(b"A: b\nC: d\n\n"), 11);
    assert_eq!(find_header_end(b"A: b\r\n\n\r\n\r\n"), 7, "LF after CRLF");
    assert_eq!(find_header_end(b"A: b\r\nC: d"), 0);
    assert_eq!(find_header_end(b""), 0);
}

#[test]
fn the_ascii_search_form_is_the_general_one() {
    let general = |s: &str| lower_capped(&squash_whitespace(s, SEARCH_CHARS));
    let long = "Angebot  Bad\r\n".repeat(SEARCH_CHARS / 7);
    let exact = format!("{} Xy", "a".repeat(SEARCH_CHARS - 2));
    let at_cut = format!("{}  \r\nB c", "a".repeat(SEARCH_CHARS - 1));
    let past_cut = format!("{}\n\nb", "a".repeat(SEARCH_CHARS));
    let over_slices = format!("{}   {}  ", "x ".repeat(20_000), "Y\t".repeat(40_000));
    for s in [
        "",
        "   ",
        "  Termin am\r\n\tDONNERSTAG \x0B um\x0C 9  ",
        "a\x0Bb",
        "ein-wort",
        long.as_str(),
        exact.as_str(),
        &exact[1..],
        at_cut.as_str(),
        past_cut.as_str(),
        over_slices.as_str(),
    ] {
        assert_eq!(search_form(s), general(s), "{:?}", &s[..s.len().min(40)]);
    }
    assert_eq!(search_form("Grüße  AUS Köln"), "grüße aus köln");
    assert_eq!(search_form(&long).len(), SEARCH_CHARS);
}

proptest::proptest! {
    /// For any ASCII text, the fast search form (eight bytes at a time) is the general one:
    /// white space of every kind, runs of it, capitals and control characters in any place.
    #[test]
    fn the_fast_search_form_is_the_general_one_for_any_ascii(
        s in proptest::string::string_regex("[ \t\r\n\x0B\x0CaZ@\\[`{\x01\x1F\x7F0-9A-Za-z]{0,80}").unwrap()
    ) {
        let general = lower_capped(&squash_whitespace(&s, SEARCH_CHARS));
        proptest::prop_assert_eq!(search_form(&s), general);
    }
}

/// A message made of the pieces that decide whether [`parse`] reads the header alone.
fn odd_message() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let content_type = proptest::sample::select(vec![
        "",
        "Content-Type: text/plain",
        "Content-Type: TEXT/Plain; charset=us-ascii",
        "Content-Type: text/plain; charset=\"ISO-8859-1\"",
        "Content-Type: text/plain; charset=utf-8; format=flowed",
        "Content-Type: text/plain; charset=UTF-7",
        "Content-Type: text/plain; charset=utf-16",
        "Content-Type: text/plain; charset=windows-1252",
        "Content-Type: text/plain; charset=x-unbekannt",
        "Content-Type: text/plain; charset=iso-2022-jp",
        "Content-Type: text/html; charset=us-ascii",
        "Content-Type: multipart/mixed; boundary=\"b\"",
        "Content-Type: application/pdf; name=a.pdf",
        "Content-Type: message/rfc822",
        "Content-Type: kaputt",
    ]);
    let encoding = proptest::sample::select(vec![
        "",
        "Content-Transfer-Encoding: 7bit",
        "Content-Transfer-Encoding: 8BIT",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Transfer-Encoding: Base64",
        "Content-Transfer-Encoding: x-seltsam",
    ]);
    let disposition =
        proptest::sample::select(vec!["", "Content-Disposition: inline", "Content-Disposition: attachment"]);
    let other = proptest::sample::select(vec![
        "From: Kunde <k@kunde.test>",
        "From: =?iso-8859-1?q?M=FCller?= <m@kunde.test>",
        "Sender: s@kunde.test",
        "Subject: Angebot  Bad",
        "Subject: =?utf-8?b?R3LDvMOfZQ==?=",
        "Date: Mon, 2 Nov 2026 09:15:00 +0100",
        "Date: irgendwann",
        "Message-ID: <1@kunde.test>",
        "MIME-Version: 1.0",
        "X-Leer:",
        "keine Kopfzeile",
        "Subject: gefaltet\r\n  weiter",
        "\x0C",
        "\r",
        " ",
        "\t",
    ]);
    let ascii_body =
        proptest::string::string_regex("[ -~\t\r\n\x01\x0C\x7F]{0,300}").unwrap().prop_map(String::into_bytes);
    let any_body = proptest::collection::vec(any::<u8>(), 0..120);
    let body = prop_oneof![3 => ascii_body, 1 => any_body];
    let newline = proptest::sample::select(vec!["\r\n", "\n"]);
    (
        proptest::collection::vec(prop_oneof![content_type, encoding, disposition, other], 0..7),
        newline,
        any::<bool>(),
        body,
    )
        .prop_map(|(headers, nl, blank_line, body)| {
            let mut raw = Vec::new();
            for h in headers.iter().filter(|h| !h.is_empty()) {
                raw.extend_from_slice(h.as_bytes());
                raw.extend_from_slice(nl.as_bytes());
            }
            if blank_line {
                raw.extend_from_slice(nl.as_bytes());
            }
            raw.extend_from_slice(&body);
            raw
        })
}

proptest::proptest! {
    /// Reading the header alone (for one plain ASCII text part) gives what reading the
    /// whole message gives, for any mix of types, charsets, encodings and bodies.
    #[test]
    fn the_header_alone_reads_as_the_whole_message(raw in odd_message()) {
        let whole = parse_whole(&MessageParser::default(), &raw, find_header_end(&raw));
        proptest::prop_assert_eq!(parse(&raw), whole);
    }
}

#[test]
fn plain_ascii_mail_is_read_from_its_header_alone() {
    let head = |raw: &'static [u8]| MessageParser::default().parse_headers(raw).expect("a header");
    let body_of = |raw: &'static [u8]| ascii_text(&raw[find_header_end(raw)..]).filter(|_| plain_text_part(&head(raw)));
    let plain = b"From: k@kunde.test\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nTermin am Montag\r\n";
    assert_eq!(body_of(plain), Some("Termin am Montag\r\n"));
    assert_eq!(body_of(b"From: k@kunde.test\r\n\r\nHallo"), Some("Hallo"));
    // umlauts, an encoding, an attachment, HTML and UTF-16 take the whole way
    assert_eq!(body_of(b"From: k@kunde.test\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe"), None);
    assert_eq!(body_of(b"From: k@kunde.test\r\nContent-Transfer-Encoding: base64\r\n\r\nSGFsbG8="), None);
    assert_eq!(body_of(b"From: k@kunde.test\r\nContent-Disposition: attachment\r\n\r\nHallo"), None);
    assert_eq!(body_of(b"From: k@kunde.test\r\nContent-Type: text/html\r\n\r\n<p>Hallo</p>"), None);
    assert_eq!(body_of(b"From: k@kunde.test\r\nContent-Type: text/plain; charset=utf-16\r\n\r\nHallo"), None);
    let p = parse(plain);
    assert_eq!((p.preview.as_str(), p.search_text.as_str()), ("Termin am Montag", "termin am montag"));
    // Headers that mail-parser ends before the blank line found: lines of both kinds, a line
    // of only a form feed, only a CR, or white space after a line without a colon.
    for raw in [
        &b"!:\n\r\n\x01\n\n"[..],
        b"From: a@b.test\n\x0C\nHello\n\nWorld",
        b"From: a@b.test\r\n\r\r\nHello\r\n\r\nWorld",
        b"From: a@b.test\nkeine Kopfzeile\n \nHello\n\nWorld",
    ] {
        let head = MessageParser::default().parse_headers(raw).expect("a header");
        assert!(!header_ends_at(&head, raw, find_header_end(raw)), "{raw:?}");
        assert_eq!(parse(raw), parse_whole(&MessageParser::default(), raw, find_header_end(raw)), "{raw:?}");
    }
    assert!(parse(b"From: a@b.test\n\x0C\nHello\n\nWorld").search_text.starts_with("hello"));
    let plain_head = MessageParser::default().parse_headers(plain).expect("a header");
    assert!(header_ends_at(&plain_head, plain, find_header_end(plain)));
}

#[test]
fn references_and_threading_ids() {
    let raw = b"From: a@b.test\r\nMessage-ID: <3@x>\r\nIn-Reply-To: <2@x>\r\nReferences: <1@x> <2@x>\r\n\r\nhi";
    let p = parse(raw);
    assert_eq!(p.in_reply_to, vec!["2@x"]);
    assert_eq!(p.references, vec!["1@x", "2@x"]);
}

#[test]
fn a_body_snippet_shows_the_hit_far_down_in_a_base64_body() {
    use base64::Engine as _;
    let filler = "Sehr geehrte Damen und Herren,\n\nwir kommen auf Ihr Angebot zurück. ".repeat(30);
    let body = base64::engine::general_purpose::STANDARD
        .encode(format!("{filler}Bitte um RÜCKRUF wegen der Fliesen im Bad. {filler}"));
    let raw = format!(
        "From: k@kunde.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    );
    let s = body_snippet(raw.as_bytes(), &["rückruf".into()]).expect("a hit");
    assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
    assert!(s.contains("Bitte um RÜCKRUF wegen der Fliesen"), "{s}");
    assert!(s.chars().count() <= SNIPPET_CHARS + 2, "{}", s.chars().count());
    assert!(!s.contains('\n'));
    assert_eq!(body_snippet(raw.as_bytes(), &["nirgends".into()]), None);
}
