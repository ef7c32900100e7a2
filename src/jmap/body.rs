//! MIME structure as JMAP sees it: body parts, body values, `header:Name:asForm[:all]`
//! properties, and the checks every string bound for a header passes (drafts are built in
//! `email/build`).
//!
//! Parsing happens on demand from the stored raw bytes (mail-parser, which never panics on
//! hostile input). Part ids are mail-parser's part indexes, so `P<email>-<part>` names the
//! decoded content of one part as a blob.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde_json::{Map, Value, json};

pub const BODY_PROPS: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "headers",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
    "subParts",
];
pub const DEFAULT_BODY_PROPS: &[&str] =
    &["partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language", "location"];

/// A parsed `header:Name[:asForm][:all]` property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderProp {
    pub name: String,
    pub form: Form,
    pub all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Raw,
    Text,
    Addresses,
    GroupedAddresses,
    MessageIds,
    Date,
    Urls,
}

pub fn parse_header_prop(p: &str) -> Option<HeaderProp> {
    let rest = p.strip_prefix("header:")?;
    let mut parts: Vec<&str> = rest.split(':').collect();
    let all = parts.last() == Some(&"all");
    if all {
        parts.pop();
    }
    let (name, form) = match parts.as_slice() {
        [name] => (*name, Form::Raw),
        [name, form] => (
            *name,
            match *form {
                "asRaw" => Form::Raw,
                "asText" => Form::Text,
                "asAddresses" => Form::Addresses,
                "asGroupedAddresses" => Form::GroupedAddresses,
                "asMessageIds" => Form::MessageIds,
                "asDate" => Form::Date,
                "asURLs" => Form::Urls,
                _ => return None,
            },
        ),
        _ => return None,
    };
    if name.is_empty() || !name.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b':') {
        return None;
    }
    Some(HeaderProp { name: name.to_string(), form, all })
}

/// Raw values (after the colon, without the final line break) of every `name` header in
/// `headers` (a header section), in order.
pub fn raw_values(headers: &[mail_parser::Header<'_>], raw: &[u8], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| {
            let (s, e) = (h.offset_start as usize, (h.offset_end as usize).min(raw.len()));
            let mut v = raw.get(s..e).unwrap_or_default();
            while let Some(x) = v.strip_suffix(b"\n").or_else(|| v.strip_suffix(b"\r")) {
                v = x;
            }
            String::from_utf8_lossy(v).into_owned()
        })
        .collect()
}

fn addr_json(a: &mail_parser::Addr<'_>) -> Value {
    json!({"name": a.name().map(|n| n.trim()).filter(|n| !n.is_empty()), "email": a.address().unwrap_or_default()})
}

/// One raw header value in the requested form (null where it cannot be read in that form).
pub fn header_form(raw: &str, form: Form) -> Value {
    let parse = |name: &str, p: MessageParser| -> Option<HeaderValue<'static>> {
        let synth = format!("{name}:{raw}\r\n\r\n");
        let msg = p.parse(synth.as_bytes())?;
        msg.root_part().headers.first().map(|h| h.value.clone().into_owned())
    };
    match form {
        Form::Raw => json!(raw),
        // mail-parser decodes RFC 2047 words in unstructured headers it knows, such as Subject.
        Form::Text => match parse("Subject", MessageParser::default()) {
            Some(HeaderValue::Text(t)) => json!(t.trim()),
            Some(HeaderValue::TextList(l)) => json!(l.join(", ").trim()),
            _ => json!(raw.replace("\r\n", "").trim()),
        },
        Form::Addresses | Form::GroupedAddresses => {
            let v = parse("To", MessageParser::new().with_address_headers());
            let addr = match &v {
                Some(HeaderValue::Address(a)) => Some(a),
                _ => None,
            };
            if form == Form::Addresses {
                let list: Vec<Value> = addr.map(|a| a.iter().map(addr_json).collect()).unwrap_or_default();
                json!(list)
            } else {
                match addr {
                    Some(Address::Group(g)) => json!(g
                        .iter()
                        .map(|g| json!({"name": g.name, "addresses": g.addresses.iter().map(addr_json).collect::<Vec<_>>()}))
                        .collect::<Vec<_>>()),
                    Some(Address::List(l)) => json!([{"name": null, "addresses": l.iter().map(addr_json).collect::<Vec<_>>()}]),
                    None => json!([]),
                }
            }
        }
        Form::MessageIds => match parse("References", MessageParser::new().with_message_ids()) {
            Some(HeaderValue::Text(t)) => json!([t.trim_matches(['<', '>'])]),
            Some(HeaderValue::TextList(l)) => {
                json!(l.iter().map(|t| t.trim_matches(['<', '>']).to_string()).collect::<Vec<_>>())
            }
            _ => Value::Null,
        },
        Form::Date => match parse("Date", MessageParser::new().with_date_headers()) {
            Some(HeaderValue::DateTime(d)) => json!(d.to_rfc3339()),
            _ => Value::Null,
        },
        Form::Urls => {
            let urls: Vec<String> =
                raw.split('<').skip(1).filter_map(|s| s.split_once('>').map(|x| x.0.trim().to_string())).collect();
            if urls.is_empty() { Value::Null } else { json!(urls) }
        }
    }
}

/// The value of a header property for a header section.
pub fn header_prop_value(headers: &[mail_parser::Header<'_>], raw: &[u8], p: &HeaderProp) -> Value {
    let values = raw_values(headers, raw, &p.name);
    if p.all {
        json!(values.iter().map(|v| header_form(v, p.form)).collect::<Vec<_>>())
    } else {
        values.last().map_or(Value::Null, |v| header_form(v, p.form))
    }
}

fn all_headers(headers: &[mail_parser::Header<'_>], raw: &[u8]) -> Value {
    json!(
        headers
            .iter()
            .map(|h| {
                let name = h.name.as_str();
                let v = raw_values(std::slice::from_ref(h), raw, name).pop().unwrap_or_default();
                json!({"name": name, "value": v})
            })
            .collect::<Vec<_>>()
    )
}

fn part_type(part: &mail_parser::MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(st) => format!("{}/{}", ct.ctype(), st).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
        None => match &part.body {
            PartType::Multipart(_) => "multipart/mixed".into(),
            PartType::Message(_) => "message/rfc822".into(),
            PartType::Html(_) => "text/html".into(),
            PartType::Text(_) => "text/plain".into(),
            _ => "application/octet-stream".into(),
        },
    }
}

/// The decoded bytes of part `i` (a nested message: its raw bytes).
pub fn part_bytes(msg: &mail_parser::Message<'_>, i: usize) -> Option<Vec<u8>> {
    let part = msg.parts.get(i)?;
    Some(match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_bytes().to_vec(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Message(m) => m.raw_message().to_vec(),
        PartType::Multipart(_) => msg.raw_message().get(part.offset_body as usize..part.offset_end as usize)?.to_vec(),
    })
}

/// The blob id of each part of a message, by part index (`P<email>-<part>` for a stored
/// email).
pub type PartBlob<'a> = &'a dyn Fn(usize) -> Option<String>;

/// An EmailBodyPart object for part `i` with the requested properties; `blob` names the
/// blob of a part.
pub fn part_json(
    msg: &mail_parser::Message<'_>,
    blob: PartBlob<'_>,
    i: usize,
    props: &[String],
    recurse: bool,
) -> Value {
    let Some(part) = msg.parts.get(i) else { return Value::Null };
    let raw = msg.raw_message();
    let ty = part_type(part);
    let multipart = matches!(part.body, PartType::Multipart(_));
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "partId" => {
                if multipart {
                    Value::Null
                } else {
                    json!(i.to_string())
                }
            }
            "blobId" => match blob(i) {
                Some(b) if !multipart => json!(b),
                _ => Value::Null,
            },
            "size" => json!(if multipart { 0 } else { part_bytes(msg, i).map_or(0, |b| b.len()) }),
            "headers" => all_headers(&part.headers, raw),
            "name" => json!(part.attachment_name()),
            "type" => json!(ty),
            "charset" => match part.content_type().and_then(|c| c.attribute("charset")) {
                Some(c) => json!(c.to_lowercase()),
                None if ty.starts_with("text/") => json!("us-ascii"),
                None => Value::Null,
            },
            "disposition" => json!(part.content_disposition().map(|d| d.ctype().to_lowercase())),
            "cid" => json!(part.content_id().map(|c| c.trim_matches(['<', '>']).to_string())),
            "language" => match part.content_language() {
                HeaderValue::Text(t) => json!([t]),
                HeaderValue::TextList(l) => json!(l),
                _ => Value::Null,
            },
            "location" => json!(part.content_location()),
            "subParts" => match (&part.body, recurse) {
                (PartType::Multipart(children), true) => {
                    json!(children.iter().map(|c| part_json(msg, blob, *c as usize, props, true)).collect::<Vec<_>>())
                }
                _ => continue,
            },
            other => match parse_header_prop(other) {
                Some(hp) => header_prop_value(&part.headers, raw, &hp),
                None => continue,
            },
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

/// A `bodyValues` entry for a text part.
pub fn body_value(msg: &mail_parser::Message<'_>, i: usize, max_bytes: usize) -> Option<Value> {
    let part = msg.parts.get(i)?;
    let text = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_ref(),
        _ => return None,
    };
    let (value, truncated) = if max_bytes > 0 && text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        (&text[..end], true)
    } else {
        (text, false)
    };
    Some(json!({"value": value, "isEncodingProblem": part.is_encoding_problem, "isTruncated": truncated}))
}

/// Whether part `i` is a text part (text/* that mail-parser decoded as text).
pub fn is_text(msg: &mail_parser::Message<'_>, i: usize) -> bool {
    msg.parts.get(i).is_some_and(|p| matches!(p.body, PartType::Text(_) | PartType::Html(_)))
}

// ---------------------------------------------------------------------------------------------
// Strings bound for a header

/// Whether a client's string may become a header value, or part of one: it has no CR, LF or
/// NUL, so it cannot end a header line and start another. Every string a device gives that
/// ends up in a header is checked with this and refused (`invalidProperties`) when it fails.
pub fn one_line(s: &str) -> bool {
    !s.contains(['\r', '\n', '\0'])
}

/// A MIME type as `type/subtype` of RFC 2045 token characters, and nothing else.
pub fn is_mime_type(s: &str) -> bool {
    let token =
        |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    s.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jmap::ids;

    const MSG: &[u8] = b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@kunde.test>\r\n\
To: Becker <becker@bau-firma.test>, info@bau-firma.test\r\n\
Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Bad?=\r\n\
User-Agent: Test 1.0\r\n\
List-Post: <mailto:list@x.test>\r\n\
Message-ID: <a@x>\r\n\
References: <r1@x> <r2@x>\r\n\
Date: Mon, 2 Nov 2026 09:15:00 +0100\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n\
--b1\r\nContent-Type: application/pdf; name=\"angebot.pdf\"\r\nContent-Disposition: attachment; filename=\"angebot.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n\
--b1--\r\n";

    #[test]
    fn header_values_are_one_line_and_types_plain() {
        assert!(one_line("Angebot für Ihr Bad"));
        for bad in ["a\r\nBcc: x@y", "a\nb", "a\rb", "a\0b"] {
            assert!(!one_line(bad), "{bad:?}");
        }
        assert!(is_mime_type("application/pdf") && is_mime_type("application/vnd.ms-excel"));
        for bad in ["application/pdf\r\nBcc: x@y", "pdf", "text/plain; charset=utf-8", "/x", "a/", "a b/c"] {
            assert!(!is_mime_type(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_property_names() {
        assert_eq!(
            parse_header_prop("header:User-Agent:asText"),
            Some(HeaderProp { name: "User-Agent".into(), form: Form::Text, all: false })
        );
        assert_eq!(
            parse_header_prop("header:Autocrypt:asText:all"),
            Some(HeaderProp { name: "Autocrypt".into(), form: Form::Text, all: true })
        );
        assert_eq!(
            parse_header_prop("header:X-A"),
            Some(HeaderProp { name: "X-A".into(), form: Form::Raw, all: false })
        );
        assert_eq!(
            parse_header_prop("header:X-A:all"),
            Some(HeaderProp { name: "X-A".into(), form: Form::Raw, all: true })
        );
        assert_eq!(parse_header_prop("header:X-A:asBogus"), None);
        assert_eq!(parse_header_prop("header::asText"), None);
        assert_eq!(parse_header_prop("subject"), None);
    }

    #[test]
    fn header_forms_of_a_real_message() {
        let msg = MessageParser::default().parse(MSG).unwrap();
        let h = &msg.root_part().headers;
        let get = |p: &str| header_prop_value(h, MSG, &parse_header_prop(p).unwrap());
        assert_eq!(get("header:Subject:asText"), json!("Angebot für Bad"));
        assert_eq!(get("header:User-Agent:asText"), json!("Test 1.0"));
        assert_eq!(get("header:User-Agent"), json!(" Test 1.0"));
        assert_eq!(get("header:X-Missing:asText"), Value::Null);
        assert_eq!(get("header:X-Missing:asText:all"), json!([]));
        assert_eq!(
            get("header:To:asAddresses"),
            json!([{"name": "Becker", "email": "becker@bau-firma.test"}, {"name": null, "email": "info@bau-firma.test"}])
        );
        assert_eq!(get("header:References:asMessageIds"), json!(["r1@x", "r2@x"]));
        assert_eq!(get("header:Date:asDate"), json!("2026-11-02T09:15:00+01:00"));
        assert_eq!(get("header:List-Post:asURLs"), json!(["mailto:list@x.test"]));
    }

    #[test]
    fn parts_and_body_values() {
        let msg = MessageParser::default().parse(MSG).unwrap();
        let props: Vec<String> = DEFAULT_BODY_PROPS.iter().chain(["subParts"].iter()).map(|s| s.to_string()).collect();
        let s = part_json(&msg, &|i| Some(ids::part_blob(7, i)), 0, &props, true);
        assert_eq!(s["type"], "multipart/mixed");
        assert_eq!(s["partId"], Value::Null);
        assert_eq!(s["subParts"][0]["type"], "text/plain");
        assert_eq!(s["subParts"][0]["charset"], "utf-8");
        assert_eq!(s["subParts"][1]["name"], "angebot.pdf");
        assert_eq!(s["subParts"][1]["disposition"], "attachment");
        assert_eq!(s["subParts"][1]["blobId"], "P7-2");
        assert_eq!(part_bytes(&msg, 2).unwrap(), b"%PDF-");
        let v = body_value(&msg, msg.text_body[0] as usize, 0).unwrap();
        assert_eq!(v["value"], "Grüße aus Köln", "the line break before the boundary belongs to the boundary");
        // Truncation never splits a character: "Grü" is 4 bytes, so 3 bytes give "Gr".
        let v = body_value(&msg, msg.text_body[0] as usize, 3).unwrap();
        assert_eq!(v["value"], "Gr");
        assert_eq!(v["isTruncated"], true);
    }
}
