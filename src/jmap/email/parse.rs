//! `Email/parse` (RFC 8621 section 4.9): blobs the account may read (an uploaded `.eml`, a
//! stored message, an attached `message/rfc822` part of a stored email) read as Email objects
//! without being stored.
//!
//! The list properties come from the same reading the store does at ingest
//! (`message::parse`), the body properties and `header:*` from the same code as `Email/get`.
//! What only a stored email has (`id`, `mailboxIds`, `keywords`, `receivedAt`, `threadId`) is
//! null. A part of a message that is not stored has no `P<email>-<part>` blob, so when part
//! blob ids are asked for, each leaf's decoded content is stored as an upload of the account
//! (content-addressed: parsing again stores nothing new; like any upload it is kept at least
//! a day) and named by that blob's id. That is the only write: one transaction per parsed
//! message, for all of its parts. A blob without a header
//! section is `notParsable`; an unknown one (or one of another account) is `notFound`.

use serde_json::{Map, Value, json};

use mail_parser::{MessageParser, PartType};

use super::{BodyArgs, LIST_PROPS, list_value};
use crate::jmap::method::{Ctx, MethodError, MethodResult, opt_str_list};
use crate::jmap::{body, ids, limits};
use crate::store::email_query::EmailRow;

/// What Email/parse returns without `properties` (RFC 8621 section 4.9).
const DEFAULT_PROPS: &[&str] = &[
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// Properties only a stored email has: null here.
const STORED_ONLY: &[&str] = &["id", "mailboxIds", "keywords", "receivedAt", "threadId"];

/// Stores the decoded bytes of a message's leaf parts (all at once, in one transaction) and
/// names their blobs, in order.
type StoreParts<'a> = &'a mut dyn FnMut(&[&[u8]]) -> Result<Vec<String>, MethodError>;

/// The Email object of the message `raw` (blob `blob_id`), or None when it is not a message.
/// The leaf parts get blobs of their own through `store_parts` (called once) when their blob
/// ids are asked for.
fn email_of(
    raw: &[u8],
    blob_id: &str,
    b: &BodyArgs,
    store_parts: StoreParts<'_>,
) -> Result<Option<Value>, MethodError> {
    let p = crate::message::parse(raw);
    let not_a_message = |why: &str| why.contains("not a message") || why.contains("no header section");
    if p.problem.as_deref().is_some_and(not_a_message) {
        return Ok(None);
    }
    let mut part_blobs: Vec<Option<String>> = Vec::new();
    if b.needs_part_blobs()
        && let Some(msg) = MessageParser::default().parse(raw)
    {
        let leaves: Vec<Option<Vec<u8>>> = msg
            .parts
            .iter()
            .enumerate()
            .map(|(i, part)| match &part.body {
                PartType::Multipart(_) => None,
                _ => body::part_bytes(&msg, i),
            })
            .collect();
        let bytes: Vec<&[u8]> = leaves.iter().flatten().map(Vec::as_slice).collect();
        let mut names = store_parts(&bytes)?.into_iter();
        part_blobs = leaves.iter().map(|l| l.as_ref().and_then(|_| names.next())).collect();
    }
    let row = EmailRow {
        id: 0,
        folder_id: 0,
        blob_id: 0,
        thread_id: 0,
        size: raw.len() as i64,
        received_at: 0,
        sent_at: p.sent_at,
        message_id: p.message_id,
        in_reply_to: p.in_reply_to,
        references: p.references,
        from: p.from,
        sender: p.sender,
        to: p.to,
        cc: p.cc,
        bcc: p.bcc,
        reply_to: p.reply_to,
        subject: p.subject,
        preview: p.preview,
        has_attachment: p.has_attachment,
        keywords: vec![],
    };
    // `subject` is `String|null` (RFC 8621 section 4.1.3): null when the message has no
    // Subject header field. (A stored email keeps only the text, so Email/get cannot tell.)
    let no_subject = || {
        MessageParser::default()
            .parse_headers(raw)
            .is_none_or(|m| !m.root_part().headers().iter().any(|h| h.name().eq_ignore_ascii_case("Subject")))
    };
    let mut o = Map::new();
    for prop in &b.props {
        let v = if STORED_ONLY.contains(&prop.as_str()) || (prop == "subject" && no_subject()) {
            Value::Null
        } else if prop == "blobId" {
            json!(blob_id)
        } else {
            match list_value(&row, prop) {
                Some(v) => v,
                None => continue,
            }
        };
        o.insert(prop.clone(), v);
    }
    if b.needs_parse() {
        b.fill(&mut o, raw, &|i| part_blobs.get(i).cloned().flatten());
    }
    Ok(Some(Value::Object(o)))
}

pub fn parse(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let blob_ids = opt_str_list(&args, "blobIds")?.ok_or_else(|| MethodError::invalid("blobIds is required"))?;
    if blob_ids.len() > limits::MAX_OBJECTS_IN_GET {
        return Err(MethodError::with(
            "requestTooLarge",
            format!("{} blobs; at most {} per call", blob_ids.len(), limits::MAX_OBJECTS_IN_GET),
        ));
    }
    let b = BodyArgs::read(&args, LIST_PROPS, DEFAULT_PROPS)?;
    let mut parsed = Map::new();
    let mut not_parsable = Vec::new();
    let mut not_found = Vec::new();
    for id in blob_ids {
        match ctx.blob(&mailbox, &id)? {
            None => not_found.push(id),
            Some(raw) => match email_of(&raw, &id, &b, &mut |parts| {
                Ok(ctx.app.store.blobs().upload_all(&mailbox, parts)?.into_iter().map(ids::blob).collect())
            })? {
                Some(e) => {
                    parsed.insert(id, e);
                }
                None => not_parsable.push(id),
            },
        }
    }
    Ok(json!({
        "accountId": account_id,
        "parsed": parsed,
        "notParsable": not_parsable,
        "notFound": not_found,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `email_of` with part blobs named B100, B101, ... and never stored; all of a message's
    /// parts are stored in one call.
    fn email(raw: &[u8], b: &BodyArgs) -> Option<Value> {
        let mut calls = 0;
        let e = email_of(raw, "B7", b, &mut |parts| {
            calls += 1;
            Ok((0..parts.len()).map(|i| format!("B{}", 100 + i)).collect())
        })
        .unwrap();
        assert!(calls <= 1, "the parts of one message are stored in one transaction");
        e
    }

    fn args(props: Option<&[&str]>) -> BodyArgs {
        let mut a = Map::new();
        if let Some(p) = props {
            a.insert("properties".into(), json!(p));
        }
        a.insert("fetchTextBodyValues".into(), json!(true));
        BodyArgs::read(&a, LIST_PROPS, DEFAULT_PROPS).unwrap()
    }

    const EML: &[u8] = b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@kunde.test>\r\n\
To: becker@bau-firma.test\r\n\
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n\
Message-ID: <p1@kunde.test>\r\n\
Date: Mon, 2 Nov 2026 09:15:00 +0100\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n\
Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe\r\n";

    #[test]
    fn a_message_blob_reads_as_an_email_without_what_only_storing_gives() {
        let e = email(EML, &args(None)).unwrap();
        assert_eq!(e["subject"], "Grüße aus Köln");
        assert_eq!(e["from"], json!([{"name": "Jürgen Müller", "email": "j@kunde.test"}]));
        assert_eq!(e["messageId"], json!(["p1@kunde.test"]));
        assert_eq!(e["sentAt"], "2026-11-02T08:15:00Z");
        assert_eq!(e["preview"], "Schöne Grüße");
        let part = e["textBody"][0]["partId"].as_str().unwrap();
        assert_eq!(e["bodyValues"][part]["value"], "Schöne Grüße\r\n");
        assert_eq!(e["textBody"][0]["blobId"], "B100", "the part got a blob of its own");
        assert!(e.get("id").is_none(), "not asked for, not given");

        let e = email(EML, &args(Some(&["id", "blobId", "mailboxIds", "keywords", "receivedAt", "threadId", "size"])))
            .unwrap();
        for p in STORED_ONLY {
            assert_eq!(e[*p], Value::Null, "{p}");
        }
        assert_eq!(e["blobId"], "B7");
        assert_eq!(e["size"], EML.len());
    }

    #[test]
    fn a_message_without_a_subject_has_a_null_subject() {
        let e = email(b"From: a@kunde.test\r\nTo: b@bau-firma.test\r\n\r\nHallo\r\n", &args(None)).unwrap();
        assert_eq!(e["subject"], Value::Null, "{e}");
        for p in ["messageId", "inReplyTo", "references", "sender", "cc", "bcc", "replyTo", "sentAt"] {
            assert_eq!(e[p], Value::Null, "{p} is absent: {e}");
        }
        let e = email(b"From: a@kunde.test\r\nSubject:\r\n\r\nHallo\r\n", &args(None)).unwrap();
        assert_eq!(e["subject"], "", "an empty Subject is the empty string: {e}");
    }

    #[test]
    fn a_blob_that_is_not_a_message_is_not_parsable() {
        assert!(email(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", &args(None)).is_none());
        assert!(email(b"", &args(None)).is_none());
    }

    #[test]
    fn every_leaf_of_a_message_is_stored_in_one_call() {
        let eml = b"From: a@kunde.test\r\nSubject: Zwei\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n\
--x\r\nContent-Type: text/plain\r\n\r\nHallo\r\n\
--x\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--x--\r\n";
        let e = email(eml, &args(Some(&["textBody", "attachments"]))).unwrap();
        assert_eq!(e["textBody"][0]["blobId"], "B100", "{e}");
        assert_eq!(e["attachments"][0]["blobId"], "B101", "{e}");
    }
}
