//! Every search key against two German messages (`tests/imapd/`): an offer with RFC 2047
//! words, a group address and a quoted-printable body; an invoice with raw 8-bit Latin-1
//! headers and body. Keys are read by imap-codec's own parser from SEARCH command text. Then
//! the cases a review found (a Date just after midnight in its own zone, a string across two
//! header fields, a reversed UID range), and a property: `matches` agrees with a small
//! reference evaluator over flags, size, sequence numbers and UIDs for generated keys.

use std::num::NonZeroU32;

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use proptest::prelude::*;

use super::super::render::test_wire::search_key;
use super::{Needs, SearchMsg, matches, needs};

fn key(criteria: &str) -> SearchKey<'static> {
    search_key(criteria)
}

fn eml(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imapd").join(name)).unwrap()
}

struct Fixture {
    raw: Vec<u8>,
    text: String,
    keywords: Vec<String>,
}

fn fixture(name: &str, keywords: &[&str]) -> Fixture {
    let raw = eml(name);
    let text = crate::message::parse(&raw).search_text;
    Fixture { raw, text, keywords: keywords.iter().map(|k| k.to_string()).collect() }
}

/// 03-Nov-2026 10:00:00 UTC and 02-Nov-2026 06:13:20 UTC.
const NOV3: i64 = 1_793_700_000;
const NOV2: i64 = 1_793_600_000;

#[test]
fn every_key_on_the_offer_and_the_invoice() {
    let offer = fixture("angebot.eml", &["$seen", "$flagged", "kunde"]);
    let invoice = fixture("latin1-8bit.eml", &["$answered", "$draft"]);
    let a = SearchMsg {
        seq: 1,
        uid: 10,
        keywords: &offer.keywords,
        deleted: false,
        internal_date: NOV3,
        size: offer.raw.len() as u32,
        modseq: 50,
        raw: &offer.raw,
        text: Some(&offer.text),
    };
    let b = SearchMsg {
        seq: 2,
        uid: 20,
        keywords: &invoice.keywords,
        deleted: true,
        internal_date: NOV2,
        size: invoice.raw.len() as u32,
        modseq: 40,
        raw: &invoice.raw,
        text: Some(&invoice.text),
    };
    let table: &[(&str, bool, bool)] = &[
        ("ALL", true, true),
        ("ANSWERED", false, true),
        ("UNANSWERED", true, false),
        ("DELETED", false, true),
        ("UNDELETED", true, false),
        ("DRAFT", false, true),
        ("UNDRAFT", true, false),
        ("FLAGGED", true, false),
        ("UNFLAGGED", false, true),
        ("SEEN", true, false),
        ("UNSEEN", false, true),
        ("KEYWORD kunde", true, false),
        ("KEYWORD Kunde", true, false),
        ("UNKEYWORD kunde", false, true),
        ("KEYWORD $Forwarded", false, false),
        ("NEW", false, false),
        ("OLD", true, true),
        ("RECENT", false, false),
        ("LARGER 1000", true, false),
        ("SMALLER 1000", false, true),
        ("LARGER 378", true, false),
        ("SMALLER 378", false, false),
        ("BEFORE 3-Nov-2026", false, true),
        ("ON 3-Nov-2026", true, false),
        ("ON 2-Nov-2026", false, true),
        ("SINCE 3-Nov-2026", true, false),
        ("SINCE 2-Nov-2026", true, true),
        ("SENTBEFORE 3-Nov-2026", false, true),
        ("SENTON 3-Nov-2026", true, false),
        ("SENTON 2-Nov-2026", false, true),
        ("SENTSINCE 3-Nov-2026", true, false),
        // RFC 2047 display name, decoded
        ("FROM \"müller\"", true, false),
        ("FROM h.mueller@kunde-mueller.de", true, false),
        // raw 8-bit Latin-1 display name, read as Windows-1252
        ("FROM \"jürgen weiß\"", false, true),
        ("FROM \"JÜRGEN\"", false, true),
        ("TO anna.schulz", true, false),
        ("TO info@becker-haustechnik.de", true, true),
        ("CC buchhaltung", true, false),
        ("CC \"frau wei\"", true, false),
        ("BCC becker", false, false),
        // encoded words over a folded line, decoded and joined
        ("SUBJECT \"große straße\"", true, false),
        ("SUBJECT \"für die   heizungsanlage\"", true, false),
        ("SUBJECT \"rechnung für märz\"", false, true),
        ("SUBJECT angebot", true, false),
        ("HEADER Message-ID 8bit-1", false, true),
        ("HEADER X-None \"\"", false, false),
        ("HEADER Content-Language \"\"", true, false),
        ("HEADER content-language DE-de", true, false),
        // quoted-printable body, a soft line break inside a word
        ("BODY \"wärmepumpe\"", true, false),
        ("BODY \"maße vor ort\"", true, false),
        ("BODY \"überfällig\"", false, true),
        ("BODY heizungsanlage", false, false),
        ("TEXT heizungsanlage", true, false),
        ("TEXT \"wärmepumpe\"", true, false),
        ("TEXT \"j.weiss@example\"", false, true),
        // field names and the MIME parts' headers too, as Dovecot searches TEXT
        ("TEXT \"content-disposition: attachment\"", true, false),
        ("TEXT \"angebot_mueller.pdf\"", true, false),
        ("TEXT \"message-id: <8bit-1\"", false, true),
        ("BODY \"content-disposition\"", false, false),
        ("NOT SEEN", false, true),
        ("OR SEEN DELETED", true, true),
        ("OR FLAGGED (DRAFT SMALLER 10)", true, false),
        ("SEEN FLAGGED", true, false),
        ("(SEEN FLAGGED) KEYWORD kunde", true, false),
        ("NOT (SEEN OR DRAFT FLAGGED)", false, true),
        ("1", true, false),
        ("2", false, true),
        ("*", false, true),
        ("1:*", true, true),
        ("2:1", true, true),
        ("1,3:5", true, false),
        ("UID 10", true, false),
        ("UID 15:*", false, true),
        ("UID *", false, true),
        ("UID 1:9", false, false),
        ("MODSEQ 50", true, false),
        ("MODSEQ 40", true, true),
        ("MODSEQ 51", false, false),
    ];
    let mut wrong = Vec::new();
    for (criteria, want_a, want_b) in table {
        let k = key(criteria);
        let (got_a, got_b) = (matches(&k, &a, 2, 20), matches(&k, &b, 2, 20));
        if (got_a, got_b) != (*want_a, *want_b) {
            wrong.push(format!("{criteria}: offer {got_a} (want {want_a}), invoice {got_b} (want {want_b})"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn needs_says_what_the_keys_read() {
    let n = |c: &str| needs(&key(c));
    assert_eq!(n("SEEN UID 1:* LARGER 5 SINCE 1-Jan-2026 MODSEQ 3"), Needs { raw: false, text: false });
    assert_eq!(n("FROM x"), Needs { raw: true, text: false });
    assert_eq!(n("SENTON 1-Jan-2026"), Needs { raw: true, text: false });
    assert_eq!(n("BODY x"), Needs { raw: false, text: true });
    assert_eq!(n("TEXT x"), Needs { raw: true, text: true });
    assert_eq!(n("OR SEEN (NOT BODY x)"), Needs { raw: false, text: true });
    assert_eq!(n("OR SUBJECT y NOT BODY x"), Needs { raw: true, text: true });
}

#[test]
fn a_message_without_its_text_or_raw_bytes_matches_no_string() {
    let m = SearchMsg {
        seq: 1,
        uid: 1,
        keywords: &[],
        deleted: false,
        internal_date: NOV3,
        size: 10,
        modseq: 1,
        raw: b"",
        text: None,
    };
    for c in ["BODY x", "TEXT x", "FROM x", "SUBJECT x", "HEADER Subject x"] {
        assert!(!matches(&key(c), &m, 1, 1), "{c}");
    }
    // Without a Date header a message counts as sent on 1 January 1970, as in Dovecot.
    assert!(matches(&key("SENTON 1-Jan-1970"), &m, 1, 1));
    assert!(matches(&key("SENTBEFORE 3-Nov-2026"), &m, 1, 1));
    assert!(!matches(&key("SENTSINCE 3-Nov-2026"), &m, 1, 1));
}

#[test]
fn malformed_mail_is_searched_without_panicking() {
    let raw = eml("malformed.eml");
    let m = SearchMsg {
        seq: 1,
        uid: 1,
        keywords: &[],
        deleted: false,
        internal_date: NOV3,
        size: raw.len() as u32,
        modseq: 1,
        raw: &raw,
        text: Some("kein boundary-parameter, kein ende."),
    };
    assert!(matches(&key("SUBJECT kaputte"), &m, 1, 1));
    assert!(matches(&key("FROM kaputt"), &m, 1, 1));
    // A line without a colon is no field.
    assert!(!matches(&key("HEADER X-Broken \"\""), &m, 1, 1));
    // `Date: gestern` is no date.
    assert!(matches(&key("SENTON 1-Jan-1970"), &m, 1, 1));
    assert!(matches(&key("TEXT \"kein ende\""), &m, 1, 1));
}

fn plain(raw: &[u8]) -> Fixture {
    Fixture { raw: raw.to_vec(), text: crate::message::parse(raw).search_text, keywords: Vec::new() }
}

fn at(f: &Fixture, seq: u32, uid: u32) -> SearchMsg<'_> {
    SearchMsg {
        seq,
        uid,
        keywords: &f.keywords,
        deleted: false,
        internal_date: NOV3,
        size: f.raw.len() as u32,
        modseq: 1,
        raw: &f.raw,
        text: Some(&f.text),
    }
}

/// RFC 3501 §6.4.4: the Date header is compared "disregarding time and timezone", so the day
/// is the one written, not the UTC day (00:30 +0100 is 23:30 UTC the day before).
#[test]
fn sent_keys_take_the_day_written_in_the_date_header() {
    let cases: &[(&str, &str, bool)] = &[
        ("Tue, 03 Nov 2026 00:30:00 +0100", "SENTON 3-Nov-2026", true),
        ("Tue, 03 Nov 2026 00:30:00 +0100", "SENTON 2-Nov-2026", false),
        ("Tue, 03 Nov 2026 00:30:00 +0100", "SENTBEFORE 3-Nov-2026", false),
        ("Tue, 03 Nov 2026 00:30:00 +0100", "SENTSINCE 3-Nov-2026", true),
        ("Mon, 02 Nov 2026 23:30:00 -0500", "SENTON 2-Nov-2026", true),
        ("Mon, 02 Nov 2026 23:30:00 -0500", "SENTSINCE 3-Nov-2026", false),
        ("Mon, 02 Nov 2026 23:30:00 -0500", "SENTBEFORE 3-Nov-2026", true),
        ("Tue, 03 Nov 2026 23:59:59 +1400", "SENTON 3-Nov-2026", true),
        ("Tue, 03 Nov 2026 00:00:00 -1200", "SENTON 3-Nov-2026", true),
    ];
    let mut wrong = Vec::new();
    for (date, criteria, want) in cases {
        let f = plain(format!("Date: {date}\r\nSubject: x\r\n\r\nText\r\n").as_bytes());
        if matches(&key(criteria), &at(&f, 1, 1), 1, 1) != *want {
            wrong.push(format!("Date: {date}, {criteria}: want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Regression: TEXT searched all header lines joined, so a string could run from the end of
/// one field into the name of the next.
#[test]
fn text_matches_each_header_field_on_its_own() {
    let f = plain(b"From: a@b.de\r\nSubject: Angebot\r\nContent-Type: text/plain\r\n\r\nHallo\r\n");
    let m = at(&f, 1, 1);
    for (criteria, want) in [
        ("TEXT \"b.de subject\"", false),
        ("TEXT \"angebot content-type\"", false),
        ("TEXT \"from: a@b.de\"", true),
        ("TEXT \"subject: angebot\"", true),
        ("TEXT \"content-type: text/plain\"", true),
        ("TEXT hallo", true),
    ] {
        assert_eq!(matches(&key(criteria), &m, 1, 1), want, "{criteria}");
    }
}

/// A range is the same either way round (RFC 3501 §9: `3:1` is `1:3`), and UID ranges are
/// read against UIDs, not sequence numbers.
#[test]
fn a_reversed_uid_range_is_read_against_uids() {
    let f = plain(b"Subject: x\r\n\r\n");
    // Sequence numbers 1, 2, 3 carry UIDs 2, 5, 9.
    let found = |criteria: &str| -> Vec<u32> {
        let k = key(criteria);
        [(1, 2), (2, 5), (3, 9)]
            .into_iter()
            .filter(|(s, u)| matches(&k, &at(&f, *s, *u), 3, 9))
            .map(|(s, _)| s)
            .collect()
    };
    assert_eq!(found("UID 3:1"), vec![1]);
    assert_eq!(found("UID 1:3"), vec![1]);
    assert_eq!(found("UID 9:5"), vec![2, 3]);
    assert_eq!(found("UID *:5"), vec![2, 3]);
    assert_eq!(found("3:1"), vec![1, 2, 3]);
    assert_eq!(found("UID 6:8"), Vec::<u32>::new());
    assert_eq!(found("NOT UID 3:1"), vec![2, 3]);
}

/// A message for the property below: flags, size, sequence number and UID.
#[derive(Debug, Clone)]
struct Meta {
    seq: u32,
    uid: u32,
    seen: bool,
    flagged: bool,
    deleted: bool,
    size: u32,
}

/// Keys over what `Meta` holds, nested with NOT, OR and AND.
fn gen_key() -> impl Strategy<Value = SearchKey<'static>> {
    let n = || 1u32..12;
    let set = |a: u32, b: u32, star: bool| {
        let v = |x: u32| SeqOrUid::Value(NonZeroU32::new(x).unwrap());
        let b = if star { SeqOrUid::Asterisk } else { v(b) };
        SequenceSet(Vec1::from(Sequence::Range(v(a), b)))
    };
    let leaf = prop_oneof![
        Just(SearchKey::Seen),
        Just(SearchKey::Unseen),
        Just(SearchKey::Flagged),
        Just(SearchKey::Deleted),
        Just(SearchKey::Undeleted),
        Just(SearchKey::All),
        (0u32..3000).prop_map(SearchKey::Larger),
        (0u32..3000).prop_map(SearchKey::Smaller),
        (n(), n(), any::<bool>()).prop_map(move |(a, b, s)| SearchKey::SequenceSet(set(a, b, s))),
        (n(), n(), any::<bool>()).prop_map(move |(a, b, s)| SearchKey::Uid(set(a, b, s))),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| SearchKey::Not(Box::new(k))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| SearchKey::Or(Box::new(a), Box::new(b))),
            proptest::collection::vec(inner, 1..4).prop_map(|v| SearchKey::And(Vec1::try_from(v).unwrap())),
        ]
    })
}

/// What a key means, written out separately from `matches`: the reference the property holds
/// `matches` to. `*` is the last sequence number (`last_seq`) or the last UID (`last_uid`).
fn reference(k: &SearchKey<'_>, m: &Meta, last_seq: u32, last_uid: u32) -> bool {
    let in_set = |set: &SequenceSet, n: u32, last: u32| {
        set.0.as_ref().iter().any(|s| {
            let Sequence::Range(a, b) = s else { unreachable!("only ranges are generated") };
            let v = |x: &SeqOrUid| if let SeqOrUid::Value(v) = x { v.get() } else { last };
            let (lo, hi) = if v(a) <= v(b) { (v(a), v(b)) } else { (v(b), v(a)) };
            (lo..=hi).contains(&n)
        })
    };
    match k {
        SearchKey::Seen => m.seen,
        SearchKey::Unseen => !m.seen,
        SearchKey::Flagged => m.flagged,
        SearchKey::Deleted => m.deleted,
        SearchKey::Undeleted => !m.deleted,
        SearchKey::All => true,
        SearchKey::Larger(n) => m.size > *n,
        SearchKey::Smaller(n) => m.size < *n,
        SearchKey::SequenceSet(s) => in_set(s, m.seq, last_seq),
        SearchKey::Uid(s) => in_set(s, m.uid, last_uid),
        SearchKey::Not(k) => !reference(k, m, last_seq, last_uid),
        SearchKey::Or(a, b) => reference(a, m, last_seq, last_uid) || reference(b, m, last_seq, last_uid),
        SearchKey::And(v) => v.as_ref().iter().all(|k| reference(k, m, last_seq, last_uid)),
        other => unreachable!("not generated: {other:?}"),
    }
}

fn gen_meta() -> impl Strategy<Value = Meta> {
    (1u32..12, 1u32..12, any::<bool>(), any::<bool>(), any::<bool>(), 0u32..3000)
        .prop_map(|(seq, uid, seen, flagged, deleted, size)| Meta { seq, uid, seen, flagged, deleted, size })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `matches` agrees with the reference for any generated key and message, so a key that
    /// `matches` gets wrong (a reversed range, `*`, a flag read from the wrong keyword, NOT,
    /// OR or AND combining wrongly) fails here.
    #[test]
    fn matches_agrees_with_the_reference_evaluator(k in gen_key(), meta in gen_meta(), extra in 0u32..5) {
        let (last_seq, last_uid) = (meta.seq + extra, meta.uid + extra * 3);
        let mut keywords = Vec::new();
        if meta.seen { keywords.push("$seen".to_string()); }
        if meta.flagged { keywords.push("$flagged".to_string()); }
        let m = SearchMsg {
            seq: meta.seq,
            uid: meta.uid,
            keywords: &keywords,
            deleted: meta.deleted,
            internal_date: NOV3,
            size: meta.size,
            modseq: 1,
            raw: b"",
            text: None,
        };
        prop_assert_eq!(matches(&k, &m, last_seq, last_uid), reference(&k, &meta, last_seq, last_uid), "{:?}", k);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes, any string key: an answer, never a panic.
    #[test]
    fn searching_arbitrary_bytes_never_panics(
        raw in proptest::collection::vec(any::<u8>(), 0..400),
        word in "[a-zäöüß =?_-]{0,12}",
    ) {
        let m = SearchMsg {
            seq: 1,
            uid: 1,
            keywords: &[],
            deleted: false,
            internal_date: 0,
            size: raw.len() as u32,
            modseq: 1,
            raw: &raw,
            text: Some("text"),
        };
        for field in ["FROM", "SUBJECT", "TEXT", "BODY", "HEADER X-Any", "SENTON 1-Jan-1970 TO"] {
            matches(&key(&format!("{field} \"{word}\"")), &m, 1, 1);
        }
    }
}
