//! Every search key against two German messages (`tests/imapd/`): an offer with RFC 2047
//! words, a group address and a quoted-printable body; an invoice with raw 8-bit Latin-1
//! headers and body. Keys are read by imap-codec's own parser from SEARCH command text.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::search::SearchKey;

use proptest::prelude::*;

use super::{Needs, SearchMsg, matches, needs};

/// Parses SEARCH criteria; a quoted string with letters beyond ASCII is sent as a literal, as
/// a client must send it.
fn key(criteria: &str) -> SearchKey<'static> {
    let mut line = String::from("a SEARCH ");
    let mut parts = criteria.split('"');
    line.push_str(parts.next().unwrap_or_default());
    while let (Some(quoted), Some(after)) = (parts.next(), parts.next()) {
        if quoted.is_ascii() {
            line.push_str(&format!("\"{quoted}\""));
        } else {
            line.push_str(&format!("{{{}+}}\r\n{quoted}", quoted.len()));
        }
        line.push_str(after);
    }
    line.push_str("\r\n");
    let (_, cmd) =
        CommandCodec::default().decode_static(line.as_bytes()).unwrap_or_else(|e| panic!("{criteria}: {e:?}"));
    let CommandBody::Search { criteria: keys, .. } = cmd.body else { panic!("not a SEARCH") };
    let mut keys = keys.into_inner();
    if keys.len() == 1 { keys.remove(0) } else { SearchKey::And(Vec1::try_from(keys).unwrap()) }
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes, any string key: an answer, never a panic; NOT is always the opposite.
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
            let k = key(&format!("{field} \"{word}\""));
            let not = SearchKey::Not(Box::new(k.clone()));
            prop_assert_ne!(matches(&k, &m, 1, 1), matches(&not, &m, 1, 1));
        }
    }
}
