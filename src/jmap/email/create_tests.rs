//! Test only: the rules of an `Email/set` create (RFC 8621 section 4.6), each with the path
//! its error names, and the MIME the one builder writes for every way of giving a body,
//! read back with mail-parser as Email/get reads it.

use mail_parser::{MessageParser, MimeHeaders};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::super::build::build;
use super::*;

const PDF: &[u8] = b"%PDF-1.4 Angebot";
const EML: &[u8] = b"From: a@kunde.test\r\nSubject: Anfrage\r\nMessage-ID: <inner@kunde.test>\r\n\r\nHallo\r\n";

fn make(o: Value) -> Result<Vec<u8>, Value> {
    let mut blobs = |b: &str| match b {
        "B1" => Some(PDF.to_vec()),
        "B2" => Some(EML.to_vec()),
        "B3" => Some(b"Gr\xfc\xdfe".to_vec()),
        _ => None,
    };
    draft(o.as_object().unwrap(), &mut blobs).map(|d| build(d, "bau-firma.test", 1_790_000_000))
}

fn refused(o: Value) -> Value {
    match make(o.clone()) {
        Ok(raw) => panic!("accepted {o}:\n{}", String::from_utf8_lossy(&raw)),
        Err(e) => e,
    }
}

/// The properties an invalidProperties error names.
fn props(o: Value) -> Value {
    let e = refused(o);
    assert_eq!(e["type"], "invalidProperties", "{e}");
    e["properties"].clone()
}

fn with(extra: Value) -> Value {
    let mut o = json!({
        "mailboxIds": {"F1": true},
        "from": [{"name": "Hans Becker", "email": "becker@bau-firma.test"}],
        "to": [{"name": "Jürgen Müller", "email": "j@kunde.test"}],
        "subject": "Angebot für Ihr Bad",
        "bodyValues": {"t": {"value": "Grüße aus Köln"}, "h": {"value": "<p>Grüße aus Köln</p>"}},
    });
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

fn structure(s: Value) -> Value {
    with(json!({"bodyStructure": s}))
}

#[test]
fn a_single_text_leaf_is_the_whole_body() {
    let raw = make(structure(json!({"partId": "t"}))).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.parts.len(), 1);
    assert_eq!(msg.content_type().map(|c| (c.ctype(), c.subtype())), Some(("text", Some("plain"))));
    assert_eq!(msg.body_text(0).unwrap(), "Grüße aus Köln");
    assert_eq!(msg.subject(), Some("Angebot für Ihr Bad"));
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("Subject: =?utf-8?"), "RFC 2047 for a non-ASCII subject:\n{text}");
    assert!(raw.is_ascii(), "every header and the body are 7-bit:\n{text}");

    let raw = make(structure(json!({"partId": "h", "type": "text/html"}))).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.body_html(0).unwrap(), "<p>Grüße aus Köln</p>");
}

#[test]
fn alternative_and_mixed_trees_nest() {
    let raw = make(structure(json!({
        "type": "multipart/mixed",
        "subParts": [
            {"type": "multipart/alternative", "subParts": [
                {"partId": "t", "type": "text/plain"},
                {"partId": "h", "type": "text/html", "language": ["de"]},
            ]},
            {"blobId": "B1", "type": "application/pdf", "name": "Kostenvoranschlag Müller.pdf", "disposition": "attachment"},
            {"blobId": "B2", "type": "message/rfc822"},
            {"blobId": "B3", "type": "text/plain", "charset": "iso-8859-1", "name": "alt.txt"},
        ],
    })))
    .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.contains("filename*=UTF-8''Kostenvoranschlag%20M%C3%BCller.pdf"), "RFC 2231:\n{text}");
    assert!(text.contains("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n"), "{text}");
    assert!(text.contains("Content-Language: de"), "{text}");
    let msg = MessageParser::default().parse(&raw).unwrap();
    let props: Vec<String> =
        ["type", "name", "charset", "subParts", "disposition"].iter().map(|s| s.to_string()).collect();
    let s = crate::jmap::body::part_json(&msg, &|i| Some(format!("P1-{i}")), 0, &props, true);
    assert_eq!(s["type"], "multipart/mixed");
    assert_eq!(s["subParts"][0]["type"], "multipart/alternative");
    assert_eq!(s["subParts"][0]["subParts"][1]["type"], "text/html");
    assert_eq!(s["subParts"][1]["name"], "Kostenvoranschlag Müller.pdf");
    assert_eq!(s["subParts"][1]["disposition"], "attachment");
    assert_eq!(s["subParts"][2]["type"], "message/rfc822");
    assert_eq!(s["subParts"][3]["charset"], "iso-8859-1");
    assert_eq!(msg.body_text(0).unwrap(), "Grüße aus Köln");
    assert_eq!(msg.body_html(0).unwrap(), "<p>Grüße aus Köln</p>");
    assert_eq!(msg.attachment(0).unwrap().contents(), PDF);
    let inner = msg.attachment(1).unwrap().message().expect("the attached message is a message");
    assert_eq!(inner.subject(), Some("Anfrage"));
    assert_eq!(msg.attachment(2).unwrap().text_contents(), Some("Grüße"));
}

#[test]
fn a_parts_content_headers_are_read_as_its_properties() {
    let raw = make(structure(json!({"subParts": [
        {"partId": "t"},
        {"blobId": "B3", "header:Content-Type": " text/plain; charset=iso-8859-1",
         "header:Content-Disposition:asText": "attachment; filename=\"Grüße.txt\""},
    ]})))
    .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert_eq!(text.matches("Content-Type: text/plain; charset=\"iso-8859-1\"").count(), 1, "{text}");
    assert!(text.contains("filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt"), "{text}");
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.attachment(0).unwrap().attachment_name(), Some("Grüße.txt"));
    assert_eq!(msg.attachment(0).unwrap().text_contents(), Some("Grüße"));
}

#[test]
fn header_properties_in_every_form() {
    let raw = make(with(json!({
        "textBody": [{"partId": "t"}],
        "header:X-Auftrag:asText": "Bad Müller, 2. OG",
        "header:X-Raw": " gesetzt wie gegeben",
        "header:Resent-To:asAddresses": [{"name": "Büro", "email": "buero@bau-firma.test"}],
        "header:Resent-Message-ID:asMessageIds": ["r1@bau-firma.test"],
        "header:Resent-Date:asDate": "2026-11-02T09:15:00+01:00",
        "header:List-Unsubscribe:asURLs": ["mailto:aus@bau-firma.test"],
        "header:X-Tag:asText:all": ["eins", "zwei"],
        "header:Cc:asGroupedAddresses": [{"name": "Team", "addresses": [{"name": null, "email": "t@bau-firma.test"}]}],
    })))
    .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.contains("X-Raw: gesetzt wie gegeben\r\n"), "one space after the colon, as given:\n{text}");
    assert!(text.contains("X-Tag: eins\r\nX-Tag: zwei\r\n"), "{text}");
    assert!(text.contains("Resent-Message-ID: <r1@bau-firma.test>"), "{text}");
    assert!(text.contains("List-Unsubscribe: <mailto:aus@bau-firma.test>"), "{text}");
    assert!(text.contains("Resent-Date: Mon, 2 Nov 2026 08:15:00 +0000"), "{text}");
    assert!(text.contains("Cc: \"Team\": <t@bau-firma.test>;"), "{text}");
    let msg = MessageParser::default().parse(&raw).unwrap();
    let h = &msg.root_part().headers;
    let get =
        |p: &str| crate::jmap::body::header_prop_value(h, &raw, &crate::jmap::body::parse_header_prop(p).unwrap());
    assert_eq!(get("header:X-Auftrag:asText"), json!("Bad Müller, 2. OG"));
    assert_eq!(get("header:Resent-To:asAddresses"), json!([{"name": "Büro", "email": "buero@bau-firma.test"}]));
}

#[test]
fn message_id_and_date_given_as_headers_are_not_doubled() {
    let raw = make(with(json!({
        "textBody": [{"partId": "t"}],
        "header:message-id:asMessageIds": ["eigen@bau-firma.test"],
        "header:Date:asDate": "2026-11-02T09:15:00Z",
    })))
    .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert_eq!(text.matches("Message-ID:").count(), 1, "{text}");
    assert_eq!(text.matches("\r\nDate:").count() + usize::from(text.starts_with("Date:")), 1, "{text}");
    assert!(text.contains("<eigen@bau-firma.test>"), "{text}");
}

#[test]
fn message_id_and_date_on_the_root_part_are_not_doubled() {
    let raw = make(structure(json!({
        "partId": "t",
        "header:Message-ID:asMessageIds": ["wurzel@bau-firma.test"],
        "header:Date:asDate": "2026-11-02T09:15:00Z",
    })))
    .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert_eq!(text.matches("Message-ID:").count(), 1, "{text}");
    assert_eq!(text.matches("\r\nDate:").count() + usize::from(text.starts_with("Date:")), 1, "{text}");
    assert!(text.contains("<wurzel@bau-firma.test>"), "{text}");
}

#[test]
fn the_simple_form_keeps_its_layout() {
    let raw = make(with(json!({
        "textBody": [{"partId": "t"}],
        "htmlBody": [{"partId": "h"}],
        "attachments": [
            {"blobId": "B1", "type": "application/pdf", "name": "Rechnung Größe.pdf"},
            {"blobId": "B1", "type": "image/png", "disposition": "inline", "cid": "logo@x"},
        ],
    })))
    .unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    let props: Vec<String> = ["type", "name", "disposition", "cid", "subParts"].iter().map(|s| s.to_string()).collect();
    let s = crate::jmap::body::part_json(&msg, &|i| Some(format!("P1-{i}")), 0, &props, true);
    assert_eq!(s["type"], "multipart/mixed");
    assert_eq!(s["subParts"][0]["type"], "multipart/alternative");
    assert_eq!(s["subParts"][1]["name"], "Rechnung Größe.pdf");
    assert_eq!(s["subParts"][1]["disposition"], "attachment");
    assert_eq!(s["subParts"][2]["disposition"], "inline");
    assert_eq!(s["subParts"][2]["cid"], "logo@x");
    // No body at all is an empty text/plain, as before.
    let raw = make(with(json!({}))).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.content_type().map(|c| c.ctype()), Some("text"));
}

#[test]
fn the_rules_of_section_4_6_each_name_the_property() {
    let cases: Vec<(Value, Value)> = vec![
        // bodyStructure alone.
        (with(json!({"bodyStructure": {"partId": "t"}, "textBody": [{"partId": "t"}]})), json!(["textBody"])),
        (
            with(json!({"bodyStructure": {"partId": "t"}, "htmlBody": [{"partId": "h"}], "attachments": []})),
            json!(["htmlBody", "attachments"]),
        ),
        // A leaf: partId or blobId, not both, not neither; no charset or size with a partId.
        (
            structure(json!({"subParts": [{"partId": "t"}, {"partId": "t", "blobId": "B1"}]})),
            json!(["bodyStructure/subParts/1/partId", "bodyStructure/subParts/1/blobId"]),
        ),
        (structure(json!({"subParts": [{"type": "text/plain"}]})), json!(["bodyStructure/subParts/0/partId"])),
        (structure(json!({"partId": "t", "charset": "utf-8"})), json!(["bodyStructure/charset"])),
        (structure(json!({"partId": "t", "size": 12})), json!(["bodyStructure/size"])),
        (structure(json!({"partId": "nope"})), json!(["bodyStructure/partId"])),
        (structure(json!({"partId": "t", "type": "application/pdf"})), json!(["bodyStructure/type"])),
        // A multipart: no partId, blobId, charset or size; subParts only on multipart/*.
        (
            structure(
                json!({"subParts": [{"partId": "t"}, {"type": "multipart/mixed", "partId": "t", "subParts": [{"partId": "t"}]}]}),
            ),
            json!(["bodyStructure/subParts/1/partId"]),
        ),
        (structure(json!({"blobId": "B1", "subParts": [{"partId": "t"}]})), json!(["bodyStructure/blobId"])),
        (structure(json!({"type": "text/plain", "subParts": [{"partId": "t"}]})), json!(["bodyStructure/type"])),
        (structure(json!({"type": "multipart/mixed", "blobId": "B1"})), json!(["bodyStructure/type"])),
        (structure(json!({"subParts": []})), json!(["bodyStructure/subParts"])),
        // Header fields: no headers property, no Content-Transfer-Encoding, Content-* only on parts.
        (with(json!({"headers": [{"name": "X-A", "value": "b"}], "textBody": [{"partId": "t"}]})), json!(["headers"])),
        (structure(json!({"partId": "t", "headers": []})), json!(["bodyStructure/headers"])),
        (
            structure(json!({"subParts": [{"partId": "t", "header:Content-Transfer-Encoding": "base64"}]})),
            json!(["bodyStructure/subParts/0/header:Content-Transfer-Encoding"]),
        ),
        (
            with(json!({"header:Content-Type": "text/plain", "textBody": [{"partId": "t"}]})),
            json!(["header:Content-Type"]),
        ),
        (with(json!({"header:MIME-Version": "1.0"})), json!(["header:MIME-Version"])),
        // No two properties for one header field.
        (
            with(json!({"header:From:asAddresses": [{"email": "x@bau-firma.test"}]})),
            json!(["from", "header:From:asAddresses"]),
        ),
        (with(json!({"header:subject:asText": "x"})), json!(["subject", "header:subject:asText"])),
        (with(json!({"header:X-A": "1", "header:X-A:asText": "2"})), json!(["header:X-A", "header:X-A:asText"])),
        (
            structure(json!({"blobId": "B1", "cid": "a@b", "header:Content-ID:asRaw": "<c@d>"})),
            json!(["bodyStructure/cid", "bodyStructure/header:Content-ID:asRaw"]),
        ),
        (
            structure(json!({"partId": "t", "header:Subject:asText": "x"})),
            json!(["bodyStructure/header:Subject:asText"]),
        ),
        (
            structure(json!({"blobId": "B1", "type": "application/pdf", "header:Content-Type": " application/pdf"})),
            json!(["bodyStructure/type", "bodyStructure/header:Content-Type"]),
        ),
        (
            structure(json!({"blobId": "B1", "name": "a.pdf", "header:Content-Disposition:asText": "attachment"})),
            json!(["bodyStructure/name", "bodyStructure/header:Content-Disposition:asText"]),
        ),
        (
            structure(json!({"partId": "t", "header:Content-Type": " text/plain; charset=iso-8859-1"})),
            json!(["bodyStructure/header:Content-Type"]),
        ),
        (
            structure(json!({"blobId": "B1", "header:Content-Type:asAddresses": []})),
            json!(["bodyStructure/header:Content-Type:asAddresses"]),
        ),
        // Parsed forms only where section 4.1.2 allows them.
        (with(json!({"header:Reply-To:asText": "x"})), json!(["header:Reply-To:asText"])),
        (with(json!({"header:Comments:asAddresses": []})), json!(["header:Comments:asAddresses"])),
        (with(json!({"header:X-A:asText:all": "not a list"})), json!(["header:X-A:asText:all"])),
        // Body values are whole.
        (
            with(json!({"textBody": [{"partId": "t"}], "bodyValues": {"t": {"value": "x", "isTruncated": true}}})),
            json!(["bodyValues/t/isTruncated"]),
        ),
        // Properties a create cannot set.
        (with(json!({"preview": "x"})), json!(["preview"])),
        (structure(json!({"partId": "t", "bogus": 1})), json!(["bodyStructure/bogus"])),
        // The simple form: one part each, of its type; errors name the list.
        (with(json!({"textBody": [{"partId": "t"}, {"partId": "t"}]})), json!(["textBody"])),
        (with(json!({"textBody": [{"partId": "h", "type": "text/html"}]})), json!(["textBody"])),
        (with(json!({"attachments": [{"blobId": "B1", "name": "a\r\nBcc: x@y"}]})), json!(["attachments"])),
    ];
    for (o, want) in cases {
        assert_eq!(props(o.clone()), want, "{o}");
    }
}

#[test]
fn too_many_leaves_or_octets_are_too_large() {
    let leaves = |n: usize| structure(json!({"subParts": vec![json!({"blobId": "B1"}); n]}));
    make(leaves(MAX_LEAVES)).unwrap();
    let e = refused(leaves(MAX_LEAVES + 1));
    assert_eq!(e["type"], "tooLarge", "{e}");

    // Two leaves of one big blob: each counts towards maxSizeAttachmentsPerEmail.
    let half = MAX_BYTES / 2 + 1;
    let mut reads = 0;
    let mut big = |_: &str| {
        reads += 1;
        Some(vec![b'x'; half])
    };
    let o = structure(json!({"subParts": [{"blobId": "B7"}, {"blobId": "B7"}, {"blobId": "B7"}]}));
    let e = draft(o.as_object().unwrap(), &mut big).unwrap_err();
    assert_eq!(e["type"], "tooLarge", "{e}");
    assert_eq!(reads, 2, "nothing is read past the limit");
}

#[test]
fn unknown_blobs_and_deep_trees_are_refused() {
    let e = refused(structure(json!({"subParts": [{"blobId": "B99"}]})));
    assert_eq!(e, json!({"type": "blobNotFound", "notFound": ["B99"]}));
    let mut deep = json!({"partId": "t"});
    for _ in 0..=MAX_DEPTH {
        deep = json!({"subParts": [deep]});
    }
    let e = refused(structure(deep));
    assert_eq!(e["type"], "invalidProperties");
    assert!(e["properties"][0].as_str().unwrap().ends_with("/subParts/0"), "{e}");
}

#[test]
fn line_breaks_never_reach_a_header_from_a_part() {
    for (k, v) in [
        ("name", json!("a\r\nBcc: x@y")),
        ("cid", json!("c@x>\r\nBcc: x@y")),
        ("location", json!("http://x\r\nBcc: x@y")),
        ("type", json!("text/plain\r\nBcc: x@y")),
        ("disposition", json!("inline\r\nBcc: x@y")),
        ("charset", json!("utf-8\r\nBcc: x@y")),
        ("header:X-A:asText", json!("a\r\nBcc: x@y")),
    ] {
        let mut leaf = json!({"blobId": "B1"});
        leaf[k] = v;
        assert_eq!(
            props(structure(json!({"subParts": [leaf]}))),
            json!([format!("bodyStructure/subParts/0/{k}")]),
            "{k}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any German text in a leaf, the subject and a file name comes back as it was sent (the
    /// text's line ends as CRLF, which RFC 5322 wants).
    #[test]
    fn umlauts_round_trip(
        body in "[a-zA-Z0-9äöüÄÖÜß€ .,:;!?=\n-]{0,300}",
        subject in "[a-zA-ZäöüÄÖÜß ]{1,80}",
        name in "[a-zA-ZäöüÄÖÜß ]{1,40}",
    ) {
        let raw = make(json!({
            "subject": subject,
            "bodyValues": {"t": {"value": body}},
            "bodyStructure": {"subParts": [{"partId": "t"}, {"blobId": "B1", "name": format!("{name}.pdf")}]},
        })).unwrap();
        let msg = MessageParser::default().parse(&raw).unwrap();
        let text = msg.body_text(0).unwrap_or_default().replace("\r\n", "\n");
        prop_assert_eq!(text, body);
        prop_assert_eq!(msg.subject().unwrap_or_default().trim(), subject.trim());
        let file = msg.attachment(0).and_then(|a| a.attachment_name()).map(String::from);
        prop_assert_eq!(file, Some(format!("{name}.pdf")));
        prop_assert!(raw.is_ascii());
    }
}
