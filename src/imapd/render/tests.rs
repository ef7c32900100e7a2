//! FETCH rendering against Dovecot's own answers (`tests/imapd/*.dovecot`, recorded by
//! `tests/imapd/record-dovecot.py` from Dovecot 2.3 for the `.eml` beside them), every item
//! name on its own, and properties that hold for any bytes.

use std::num::NonZeroU32;
use std::path::PathBuf;

use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::{CommandCodec, ResponseCodec};
use proptest::prelude::*;

use super::{Msg, fetch, flags, sets_seen};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/imapd")
}

fn eml(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// The item names of `FETCH 1 (<spec>)`, read by imap-codec's own parser.
pub(crate) fn items(spec: &str) -> Vec<MessageDataItemName<'static>> {
    let line = format!("a FETCH 1 ({spec})\r\n");
    let (_, cmd) = CommandCodec::default().decode_static(line.as_bytes()).unwrap_or_else(|e| panic!("{spec}: {e:?}"));
    match cmd.body {
        CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names), ..
        } => names,
        other => panic!("not a FETCH of items: {other:?}"),
    }
}

fn msg(raw: &[u8]) -> Msg<'_> {
    Msg { uid: 7, keywords: &[], deleted: false, internal_date: 1_793_700_000, size: raw.len() as u32, modseq: 42, raw }
}

/// `* seq FETCH (items)\r\n` as imap-codec writes it.
pub(crate) fn wire(seq: u32, items: Vec<MessageDataItem<'static>>) -> Vec<u8> {
    let items = Vec1::try_from(items).expect("at least one item");
    let resp = Response::Data(Data::Fetch { seq: NonZeroU32::new(seq).unwrap(), items });
    ResponseCodec::default().encode(&resp).dump()
}

/// The differences between imap-codec's and Dovecot's wire form that are accepted: imap-codec
/// writes the body type of a text part as `"TEXT"` and of a message/rfc822 part as `"MESSAGE"
/// "RFC822"`, where Dovecot keeps the letter case of the header. Both sides are put in capitals
/// there (IMAP reads them case-insensitively).
pub(crate) fn accepted(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (from, to) in
        [(&b"(\"text\" "[..], &b"(\"TEXT\" "[..]), (b"(\"message\" \"rfc822\" ", b"(\"MESSAGE\" \"RFC822\" ")]
    {
        let mut i = 0;
        while i + from.len() <= out.len() {
            if out[i..i + from.len()].eq_ignore_ascii_case(from) {
                out[i..i + from.len()].copy_from_slice(to);
                i += from.len();
            } else {
                i += 1;
            }
        }
    }
    out
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
