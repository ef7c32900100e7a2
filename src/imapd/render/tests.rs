//! FETCH rendering against Dovecot's own answers (`tests/imapd/*.dovecot`, recorded by
//! `tests/imapd/record-dovecot.py` from Dovecot 2.3 for the `.eml` beside them), every item
//! name on its own, regression tests named after what a review found (a quadratic parameter
//! fold, a part cut off at the nesting limit, empty Sender, white space before a colon, BINARY
//! with NUL or an unknown encoding), and properties that hold for any bytes. The wire helpers
//! live in `test_wire.rs`, shared with the integration test.

use std::path::PathBuf;

use imap_codec::imap_types::core::NString8;
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use proptest::prelude::*;

use super::test_wire::{accepted, items, wire};
use super::{Msg, binary_unknown_cte, fetch, flags, mime, sets_seen};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/imapd")
}

fn eml(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn msg(raw: &[u8]) -> Msg<'_> {
    Msg { uid: 7, keywords: &[], deleted: false, internal_date: 1_793_700_000, size: raw.len() as u32, modseq: 42, raw }
}

/// The records of a `.dovecot` file: item spec and Dovecot's answer.
fn records(name: &str) -> Vec<(String, Vec<u8>)> {
    let data = std::fs::read(dir().join(name)).expect("a recorded answer file");
    let mut out = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let nl = rest.iter().position(|b| *b == b'\n').expect("item line");
        let spec = String::from_utf8(rest[2..nl].to_vec()).expect("utf-8 spec");
        rest = &rest[nl + 1..];
        let nl = rest.iter().position(|b| *b == b'\n').expect("length line");
        let len: usize = std::str::from_utf8(&rest[..nl]).unwrap().parse().unwrap();
        rest = &rest[nl + 1..];
        out.push((spec, rest[..len].to_vec()));
        rest = &rest[len + 1..];
    }
    out
}

fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_item_answers_as_dovecot_does_for_every_fixture() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for (i, name) in fixtures().iter().enumerate() {
        let raw = eml(name);
        let seq = i as u32 + 1;
        for (spec, dovecot) in records(&name.replace(".eml", ".dovecot")) {
            let ours = wire(seq, fetch(&msg(&raw), &items(&spec)));
            compared += 1;
            if accepted(&ours) != accepted(&dovecot) {
                failures.push(format!(
                    "{name} {spec}\n  dovecot: {}\n  ours:    {}",
                    String::from_utf8_lossy(&dovecot).escape_debug(),
                    String::from_utf8_lossy(&ours).escape_debug()
                ));
            }
        }
    }
    assert!(compared >= 10 * 37, "only {compared} answers compared");
    assert!(failures.is_empty(), "{} of {compared} differ:\n{}", failures.len(), failures.join("\n"));
}

fn one(raw: &[u8], spec: &str) -> Vec<u8> {
    wire(1, fetch(&msg(raw), &items(spec)))
}

#[test]
fn uid_flags_internaldate_size_and_modseq() {
    let raw = eml("latin1-8bit.eml");
    let keywords = vec!["$seen".to_string(), "$answered".to_string(), "kunde".to_string(), "bad keyword".to_string()];
    let m = Msg { keywords: &keywords, deleted: true, ..msg(&raw) };
    let out = wire(3, fetch(&m, &items("UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ")));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "* 3 FETCH (UID 7 FLAGS (\\Seen \\Answered kunde \\Deleted) INTERNALDATE \"03-Nov-2026 10:00:00 +0000\" RFC822.SIZE 378 MODSEQ (42))\r\n"
    );
}

#[test]
fn flags_map_through_the_stores_one_mapping() {
    let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        flags(&k(&["$seen", "$flagged", "$draft", "$answered"]), false),
        vec![Flag::Seen, Flag::Flagged, Flag::Draft, Flag::Answered]
            .into_iter()
            .map(FlagFetch::Flag)
            .collect::<Vec<_>>()
    );
    // `$MDNSent` and `$Forwarded` are atoms; a keyword with a space or a parenthesis is not.
    let f = flags(&k(&["$forwarded", "(x)", "a b", "nachfassen"]), false);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(flags(&[], true), vec![FlagFetch::Flag(Flag::Deleted)]);
    assert!(flags(&[], false).is_empty());
}

#[test]
fn rfc822_items_are_the_raw_message_its_header_and_its_text() {
    let raw = eml("forward-rfc822.eml");
    let header_end = crate::message::find_header_end(&raw);
    let expect = |name: &str, bytes: &[u8]| {
        let mut v = format!("* 1 FETCH ({name} {{{}}}\r\n", bytes.len()).into_bytes();
        v.extend_from_slice(bytes);
        v.extend_from_slice(b")\r\n");
        v
    };
    assert_eq!(one(&raw, "RFC822"), expect("RFC822", &raw));
    assert_eq!(one(&raw, "RFC822.HEADER"), expect("RFC822.HEADER", &raw[..header_end]));
    assert_eq!(one(&raw, "RFC822.TEXT"), expect("RFC822.TEXT", &raw[header_end..]));
}

#[test]
fn which_items_set_seen() {
    for spec in ["BODY[]", "BODY[1.MIME]", "RFC822", "RFC822.TEXT", "BINARY[1]", "BODY[HEADER]<0.10>"] {
        assert!(sets_seen(&items(spec)), "{spec}");
    }
    for spec in [
        "BODY.PEEK[]",
        "BINARY.PEEK[1]",
        "RFC822.HEADER",
        "BODY",
        "BODYSTRUCTURE",
        "ENVELOPE FLAGS UID",
        "BINARY.SIZE[1]",
    ] {
        assert!(!sets_seen(&items(spec)), "{spec}");
    }
}

#[test]
fn a_non_peek_body_answers_like_peek() {
    let raw = eml("angebot.eml");
    assert_eq!(one(&raw, "BODY[1.1]<0.10>"), one(&raw, "BODY.PEEK[1.1]<0.10>"));
    assert_eq!(one(&raw, "BODY[1.1]<0.10>"), b"* 1 FETCH (BODY[1.1]<0> {10}\r\nSehr geehr)\r\n");
}

#[test]
fn binary_decodes_the_pdf_and_the_quoted_printable_umlauts() {
    let raw = eml("angebot.eml");
    let out = fetch(&msg(&raw), &items("BINARY.PEEK[2] BINARY.PEEK[1.1]<0.80>"));
    let MessageDataItem::Binary { value, .. } = &out[0] else { panic!("{out:?}") };
    let pdf = match value {
        imap_codec::imap_types::core::NString8::Literal8(l) => l.data.to_vec(),
        other => panic!("{other:?}"),
    };
    assert!(pdf.starts_with(b"%PDF-1.4\n\x00\x01\x02") && pdf.ends_with(b"%%EOF\n"), "{pdf:?}");
    let text = String::from_utf8(wire(1, out[1..].to_vec())).unwrap();
    assert!(text.contains("anbei das Angebot für die Wärmepumpe"), "{text}");
    // imap-codec writes no <origin> after a partial BINARY (Dovecot writes `BINARY[1.1]<0>`).
    assert!(text.starts_with("* 1 FETCH (BINARY[1.1] ~{80}\r\n"), "{text}");
}

#[test]
fn a_nul_byte_is_sent_as_0x80_in_a_literal() {
    let raw = b"Subject: x\r\n\r\na\x00b".to_vec();
    assert_eq!(one(&raw, "BODY.PEEK[TEXT]"), b"* 1 FETCH (BODY[TEXT] {3}\r\na\x80b)\r\n");
}

#[test]
fn deep_nesting_is_cut_off_without_overflowing_the_stack() {
    let mut raw = Vec::new();
    for _ in 0..10_000 {
        raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    raw.extend_from_slice(b"Subject: innen\r\n\r\nText\r\n");
    let out = fetch(&msg(&raw), &items("BODYSTRUCTURE ENVELOPE BODY.PEEK[1.1.1.1.1.1]"));
    assert_eq!(out.len(), 3);
    wire(1, out);
}

/// Regression: RFC 2231 pieces were grouped by scanning all pieces again for each base name,
/// so 10,000 parameters took seconds and 20,000 would take minutes. Now they are sorted and
/// folded in one pass, and only the first 128 are read, as Dovecot reads them.
#[test]
fn twenty_thousand_parameters_are_read_in_one_pass_and_capped_as_dovecot_caps_them() {
    let mut value = b"text/plain".to_vec();
    for n in 0..20_000 {
        value.extend_from_slice(format!("; a{n}*0=x").as_bytes());
    }
    let ct = mime::content_type(&value).expect("a content type");
    // The first 128 pieces, each a whole parameter, sorted by name as written.
    let mut want: Vec<Vec<u8>> = (0..mime::MAX_PARAMS).map(|n| format!("a{n}").into_bytes()).collect();
    want.sort();
    let got: Vec<Vec<u8>> = ct.params.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(got, want);
    assert!(ct.params.iter().all(|(_, v)| v == b"x"));

    // The whole message renders too: 128 parameters and the default charset.
    let mut raw = b"Content-Type: ".to_vec();
    raw.extend_from_slice(&value);
    raw.extend_from_slice(b"\r\n\r\nhi\r\n");
    let out = String::from_utf8(one(&raw, "BODYSTRUCTURE")).unwrap();
    assert_eq!(out.matches("\"x\"").count(), mime::MAX_PARAMS, "{}", &out[..200]);
}

#[test]
fn rfc2231_pieces_join_only_when_numbered_from_zero_without_gaps() {
    let ct = mime::content_type(b"text/plain; a*1=b; q=1; a*0=x; c*0*=utf-8''%41; c*1=z; B*0=g; b*1=k; d*0=1; d*2=3")
        .unwrap();
    let got: Vec<(String, String)> = ct
        .params
        .iter()
        .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let want = [("q", "1"), ("B", "g"), ("a", "xb"), ("b*1", "k"), ("c*", "utf-8''%41z"), ("d*0", "1"), ("d*2", "3")];
    assert_eq!(got, want.map(|(n, v)| (n.to_string(), v.to_string())));
}

#[test]
fn a_part_cut_off_at_max_depth_is_application_octet_stream() {
    for ctype in ["message/rfc822", "multipart/mixed"] {
        let mut raw = Vec::new();
        for n in 0..mime::MAX_DEPTH + 20 {
            let level = match ctype {
                "message/rfc822" => "Content-Type: message/rfc822\r\n\r\n".to_string(),
                _ => format!("Content-Type: multipart/mixed; boundary=g{n}x\r\n\r\n--g{n}x\r\n"),
            };
            raw.extend_from_slice(level.as_bytes());
        }
        raw.extend_from_slice(b"Subject: innen\r\n\r\nText\r\n");
        let out = String::from_utf8(one(&raw, "BODYSTRUCTURE")).unwrap();
        assert_eq!(out.matches("\"application\" \"octet-stream\"").count(), 1, "{ctype}: {out}");
        let entered = if ctype.starts_with("message") {
            out.matches("\"MESSAGE\" \"RFC822\"").count()
        } else {
            out.matches("\"mixed\"").count()
        };
        assert_eq!(entered, mime::MAX_DEPTH, "{ctype}");
    }
}

#[test]
fn an_empty_sender_or_reply_to_takes_from() {
    let raw = b"From: Petra Klein <p.klein@example.de>\r\nSender:\r\nReply-To: \t\r\nSubject: x\r\n\r\nText\r\n";
    let out = String::from_utf8(one(raw, "ENVELOPE")).unwrap();
    let from = "((\"Petra Klein\" NIL \"p.klein\" \"example.de\"))";
    assert_eq!(out.matches(from).count(), 3, "{out}");
}

#[test]
fn white_space_before_the_colon_is_read_by_every_header_reader() {
    let raw = b"Subject : Aufmass\r\nContent-Type : multipart/mixed; boundary=t\r\n\r\n--t\r\n\
                Content-Type\t: text/csv\r\n\r\na;b\r\n--t--\r\n";
    let out = String::from_utf8(one(raw, "BODYSTRUCTURE ENVELOPE BODY.PEEK[HEADER.FIELDS (CONTENT-TYPE)]")).unwrap();
    assert!(out.contains("(BODYSTRUCTURE ((\"TEXT\" \"csv\""), "{out}");
    assert!(out.contains("\"mixed\" (\"boundary\" \"t\")"), "{out}");
    assert!(out.contains("ENVELOPE (NIL \"Aufmass\""), "{out}");
    assert!(out.contains("Content-Type : multipart/mixed; boundary=t\r\n\r\n"), "{out}");
    let fields = crate::message::header_fields(raw);
    assert_eq!(fields[1].0, "Content-Type");
    let ct = crate::message::raw_header(raw, b"content-type").expect("Content-Type is found");
    assert_eq!(ct, b" multipart/mixed; boundary=t");
}

#[test]
fn binary_content_with_nul_is_literal8_with_the_nul_intact() {
    let raw = b"Content-Type: multipart/mixed; boundary=t\r\n\r\n--t\r\nContent-Type: application/octet-stream\r\n\
                Content-Transfer-Encoding: binary\r\n\r\na\x00b\x01\r\n--t--\r\n";
    let out = fetch(&msg(raw), &items("BINARY.PEEK[1] BINARY.SIZE[1]"));
    match &out[0] {
        MessageDataItem::Binary { value: NString8::Literal8(l), .. } => assert_eq!(l.data.as_ref(), b"a\x00b\x01"),
        other => panic!("{other:?}"),
    }
    assert_eq!(wire(1, out), b"* 1 FETCH (BINARY[1] ~{4}\r\na\x00b\x01 BINARY.SIZE[1] 4)\r\n");
    assert!(!binary_unknown_cte(&msg(raw), &items("BINARY.PEEK[1] BINARY.PEEK[]")));
}

#[test]
fn an_unknown_transfer_encoding_is_told_before_fetch() {
    let raw =
        b"Content-Type: multipart/mixed; boundary=t\r\n\r\n--t\r\nContent-Type: text/plain\r\n\r\nhallo\r\n--t\r\n\
                Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n\
                begin 644 a\r\n--t--\r\n";
    let m = msg(raw);
    for spec in ["BINARY.PEEK[2]", "BINARY[2]<0.3>", "BINARY.SIZE[2]", "BINARY.PEEK[]", "UID BINARY.PEEK[1] BINARY[2]"]
    {
        assert!(binary_unknown_cte(&m, &items(spec)), "{spec}");
    }
    for spec in ["BINARY.PEEK[1]", "BINARY.SIZE[1]", "BINARY.PEEK[3]", "BODY.PEEK[2]", "BODYSTRUCTURE"] {
        assert!(!binary_unknown_cte(&m, &items(spec)), "{spec}");
    }
    let plain = eml("angebot.eml");
    assert!(!binary_unknown_cte(&msg(&plain), &items("BINARY.PEEK[] BINARY.PEEK[2] BINARY.SIZE[1.1]")));
}

fn all_items() -> Vec<MessageDataItemName<'static>> {
    items(
        "UID FLAGS INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT ENVELOPE BODY BODYSTRUCTURE BODY[] \
         BODY.PEEK[HEADER] BODY[TEXT] BODY[1] BODY[1.MIME] BODY[2.1.HEADER.FIELDS (SUBJECT)] BODY[1.2.3] \
         BODY[HEADER.FIELDS.NOT (FROM)] BODY[]<3.7> BINARY[1] BINARY.SIZE[1.2] BINARY.PEEK[2]<1.2> MODSEQ",
    )
}

/// Mail-shaped bytes: header lines, multipart boundaries, message/rfc822 parts and noise.
fn mailish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Type: text/plain; charset*0*=utf-8''a; charset*1=b\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"From: \"a\\\" <b@c>, (x y:z;\r\n".to_vec()),
        Just(b"To: g: a@b, <@r:c@d>;\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"--b\r\n".to_vec()),
        Just(b"--b--\r\n".to_vec()),
        Just(b" folded\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..24),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rendering_never_panics_and_always_encodes(raw in mailish()) {
        let out = fetch(&msg(&raw), &all_items());
        prop_assert_eq!(out.len(), all_items().len());
        wire(1, out);
    }

    #[test]
    fn rendering_never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
        let out = fetch(&msg(&raw), &all_items());
        prop_assert_eq!(out.len(), all_items().len());
        wire(1, out);
    }

    #[test]
    fn a_partial_body_is_the_slice_of_the_raw_bytes(raw in mailish(), origin in 0u32..400, count in 1u32..400) {
        let spec = format!("BODY.PEEK[]<{origin}.{count}>");
        let out = fetch(&msg(&raw), &items(&spec));
        let MessageDataItem::BodyExt { data, origin: o, .. } = &out[0] else { panic!() };
        let from = (origin as usize).min(raw.len());
        let to = (from + count as usize).min(raw.len());
        let want: Vec<u8> = raw[from..to].iter().map(|&b| if b == 0 { 0x80 } else { b }).collect();
        prop_assert_eq!(*o, Some(origin));
        prop_assert_eq!(data.clone().into_option().unwrap().to_vec(), want);
    }

    #[test]
    fn header_and_text_make_the_whole_message(raw in mailish()) {
        let out = fetch(&msg(&raw), &items("BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[]"));
        let bytes: Vec<Vec<u8>> = out.iter().map(|i| match i {
            MessageDataItem::BodyExt { data, .. } => data.clone().into_option().unwrap().to_vec(),
            other => panic!("{other:?}"),
        }).collect();
        prop_assert_eq!([bytes[0].clone(), bytes[1].clone()].concat(), bytes[2].clone());
    }
}
