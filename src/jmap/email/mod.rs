//! Email methods (RFC 8621 section 4): `Email/get` and `Email/changes` here, the queries in
//! `query`, `Email/set` and `Email/import` in `set` (a create is checked in `create` and
//! written in `build`), `Email/parse` in `parse`.
//!
//! The list properties come straight from the message row (precomputed at ingest); body
//! properties and `header:*` parse the stored raw bytes on demand. `Email/set` and
//! `Email/import` write to the store (visible at once, logged under the modseq) and queue the
//! IMAP side; then they wake the write-back and return without waiting for it.

mod build;
mod create;
mod parse;
mod query;
mod set;

pub use parse::parse;
pub use query::{query, query_changes};
pub use set::{import, set};

use mail_parser::MessageParser;
use serde_json::{Map, Value, json};

use super::body::{self, BODY_PROPS, DEFAULT_BODY_PROPS};
use super::ids;
use super::method::{
    Ctx, MethodError, MethodResult, changes as type_changes, get_ids, opt_bool, opt_int, opt_str_list, utc,
};
use crate::message::EmailAddress;
use crate::store::ObjType;
use crate::store::email_query::EmailRow;

const LIST_PROPS: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
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
];
const BODY_LEVEL: &[&str] = &["bodyValues", "textBody", "htmlBody", "attachments", "bodyStructure", "headers"];
/// What Email/get returns without `properties`: the list properties and these (RFC 8621 4.2).
const DEFAULT_EXTRA_PROPS: &[&str] = &["bodyValues", "textBody", "htmlBody", "attachments"];

fn addrs(a: &[EmailAddress]) -> Value {
    if a.is_empty() {
        return Value::Null;
    }
    json!(a.iter().map(|x| json!({"name": x.name, "email": x.email})).collect::<Vec<_>>())
}

fn id_list(v: &[String]) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}

fn list_value(r: &EmailRow, p: &str) -> Option<Value> {
    Some(match p {
        "id" => json!(ids::email(r.id)),
        "blobId" => json!(ids::blob(r.blob_id)),
        "threadId" => json!(ids::thread(r.thread_id)),
        "mailboxIds" => json!({ ids::mailbox(r.folder_id): true }),
        "keywords" => Value::Object(r.keywords.iter().map(|k| (k.to_lowercase(), Value::Bool(true))).collect()),
        "size" => json!(r.size),
        "receivedAt" => utc(r.received_at),
        "messageId" => r.message_id.as_ref().map_or(Value::Null, |m| json!([m])),
        "inReplyTo" => id_list(&r.in_reply_to),
        "references" => id_list(&r.references),
        "sender" => addrs(&r.sender),
        "from" => addrs(&r.from),
        "to" => addrs(&r.to),
        "cc" => addrs(&r.cc),
        "bcc" => addrs(&r.bcc),
        "replyTo" => addrs(&r.reply_to),
        "subject" => json!(r.subject),
        "sentAt" => r.sent_at.map_or(Value::Null, utc),
        "hasAttachment" => json!(r.has_attachment),
        "preview" => json!(r.preview),
        _ => return None,
    })
}

/// The arguments Email/get and Email/parse share about bodies (RFC 8621 section 4.2).
struct BodyArgs {
    props: Vec<String>,
    body_props: Vec<String>,
    fetch_text: bool,
    fetch_html: bool,
    fetch_all: bool,
    max_bytes: usize,
}

impl BodyArgs {
    fn read(args: &Map<String, Value>, known: &[&str], default: &[&str]) -> Result<BodyArgs, MethodError> {
        let props =
            opt_str_list(args, "properties")?.unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
        for p in &props {
            if !known.contains(&p.as_str()) && !BODY_LEVEL.contains(&p.as_str()) && body::parse_header_prop(p).is_none()
            {
                return Err(MethodError::invalid(format!("unknown property \"{p}\"")));
            }
        }
        let body_props = opt_str_list(args, "bodyProperties")?
            .unwrap_or_else(|| DEFAULT_BODY_PROPS.iter().map(|s| s.to_string()).collect());
        for p in &body_props {
            if !BODY_PROPS.contains(&p.as_str()) && body::parse_header_prop(p).is_none() {
                return Err(MethodError::invalid(format!("unknown body property \"{p}\"")));
            }
        }
        let max_bytes = match opt_int(args, "maxBodyValueBytes")? {
            None => 0,
            Some(n) if n > 0 => n as usize,
            Some(_) => return Err(MethodError::invalid("maxBodyValueBytes must be a positive integer")),
        };
        Ok(BodyArgs {
            props,
            body_props,
            fetch_text: opt_bool(args, "fetchTextBodyValues", false)?,
            fetch_html: opt_bool(args, "fetchHTMLBodyValues", false)?,
            fetch_all: opt_bool(args, "fetchAllBodyValues", false)?,
            max_bytes,
        })
    }

    /// Whether a property asked for needs the message parsed.
    fn needs_parse(&self) -> bool {
        self.props.iter().any(|p| BODY_LEVEL.contains(&p.as_str()) || p.starts_with("header:"))
    }

    /// Whether a property asked for lists body parts with their blob ids.
    fn needs_part_blobs(&self) -> bool {
        self.body_props.iter().any(|p| p == "blobId")
            && self
                .props
                .iter()
                .any(|p| matches!(p.as_str(), "bodyStructure" | "textBody" | "htmlBody" | "attachments"))
    }

    /// The body-level and `header:*` properties of the message `raw` into `o`; `email` names
    /// the blob of each part.
    fn fill(&self, o: &mut Map<String, Value>, raw: &[u8], email: body::PartBlob<'_>) {
        let Some(msg) = MessageParser::default().parse(raw) else {
            // Not parseable at all: body properties are empty, headers null.
            for p in &self.props {
                if BODY_LEVEL.contains(&p.as_str()) {
                    let v = match p.as_str() {
                        "bodyValues" => json!({}),
                        "bodyStructure" => Value::Null,
                        _ => json!([]),
                    };
                    o.insert(p.clone(), v);
                } else if p.starts_with("header:") {
                    o.insert(p.clone(), Value::Null);
                }
            }
            return;
        };
        let parts = |list: &[u32]| {
            json!(
                list.iter()
                    .map(|i| body::part_json(&msg, email, *i as usize, &self.body_props, false))
                    .collect::<Vec<_>>()
            )
        };
        for p in &self.props {
            let v = match p.as_str() {
                "bodyStructure" => body::part_json(&msg, email, 0, &self.body_props, true),
                "textBody" => parts(&msg.text_body),
                "htmlBody" => parts(&msg.html_body),
                "attachments" => parts(&msg.attachments),
                "headers" => body::part_json(&msg, email, 0, &["headers".to_string()], false)["headers"].clone(),
                "bodyValues" => {
                    let mut want: Vec<usize> = Vec::new();
                    if self.fetch_all {
                        want.extend((0..msg.parts.len()).filter(|i| body::is_text(&msg, *i)));
                    } else {
                        if self.fetch_text {
                            want.extend(msg.text_body.iter().map(|i| *i as usize));
                        }
                        if self.fetch_html {
                            want.extend(msg.html_body.iter().map(|i| *i as usize));
                        }
                    }
                    let mut bv = Map::new();
                    for i in want {
                        if let Some(v) = body::body_value(&msg, i, self.max_bytes) {
                            bv.insert(i.to_string(), v);
                        }
                    }
                    Value::Object(bv)
                }
                other => match body::parse_header_prop(other) {
                    Some(hp) => body::header_prop_value(&msg.root_part().headers, raw, &hp),
                    None => continue,
                },
            };
            o.insert(p.clone(), v);
        }
    }
}

pub fn get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?
        .ok_or_else(|| MethodError::with("requestTooLarge", "Email/get needs ids (use Email/query first)"))?;
    let default: Vec<&str> = LIST_PROPS.iter().chain(DEFAULT_EXTRA_PROPS).copied().collect();
    let b = BodyArgs::read(&args, LIST_PROPS, &default)?;
    let states = ctx.states(&mailbox)?;
    let nums: Vec<i64> = want.iter().filter_map(|i| ids::parse_email(i)).collect();
    let rows = ctx.app.store.emails().get(&mailbox, &nums)?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in want {
        let Some(r) = ids::parse_email(&id).and_then(|n| rows.iter().find(|r| r.id == n)) else {
            not_found.push(id);
            continue;
        };
        let mut o = Map::new();
        o.insert("id".into(), json!(ids::email(r.id)));
        for p in &b.props {
            if let Some(v) = list_value(r, p) {
                o.insert(p.clone(), v);
            }
        }
        if b.needs_parse() {
            let raw = ctx.app.store.emails().raw(&mailbox, r.id)?.unwrap_or_default();
            b.fill(&mut o, &raw, &|i| Some(ids::part_blob(r.id, i)));
        }
        list.push(Value::Object(o));
    }
    Ok(json!({
        "accountId": account_id,
        "state": ids::state(&states.epoch, states.modseq(ObjType::Email)),
        "list": list,
        "notFound": not_found,
    }))
}

pub fn changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    Ok(Value::Object(type_changes(ctx, &args, ObjType::Email, ids::email)?.0))
}
