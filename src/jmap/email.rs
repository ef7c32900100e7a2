//! Email and SearchSnippet methods (RFC 8621 sections 4 and 5).
//!
//! The list properties come straight from the message row (precomputed at ingest); body
//! properties and `header:*` parse the stored raw bytes on demand. `Email/set` and
//! `Email/import` write to the store (visible at once, logged under the modseq) and queue the
//! IMAP side; then they wake the write-back and return without waiting for it.
//! `queryState` is the Email state; `Email/queryChanges` re-runs the query and reports the
//! mutable-filter answer (removed = updated or destroyed, added = those of them now in the
//! results); with `collapseThreads` it says `cannotCalculateChanges`.

use std::collections::HashSet;

use mail_parser::MessageParser;
use serde_json::{Map, Value, json};

use super::api::{
    Ctx, MethodError, MethodResult, SetArgs, changes as type_changes, check_if_in_state, get_ids, opt_bool, opt_int,
    opt_str, opt_str_list, set_args, written_back,
};
use super::body::{self, BODY_PROPS, DEFAULT_BODY_PROPS, Draft};
use super::ids;
use super::limits;
use super::mail::set_error;
use crate::message::EmailAddress;
use crate::store::ObjType;
use crate::store::email_query::EmailFilter;
use crate::store::email_query::EmailRow;
use crate::store::email_query::EmailSortKey;
use crate::store::email_set::EmailUpdate;
use crate::store::email_set::KeywordPatch;
use crate::store::email_set::MailboxPatch;

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

fn utc(t: i64) -> Value {
    chrono::DateTime::from_timestamp(t, 0).map_or(Value::Null, |d| json!(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

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

pub fn get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?
        .ok_or_else(|| MethodError::with("requestTooLarge", "Email/get needs ids (use Email/query first)"))?;
    let props = opt_str_list(&args, "properties")?
        .unwrap_or_else(|| LIST_PROPS.iter().chain(DEFAULT_EXTRA_PROPS).map(|s| s.to_string()).collect());
    for p in &props {
        if !LIST_PROPS.contains(&p.as_str())
            && !BODY_LEVEL.contains(&p.as_str())
            && body::parse_header_prop(p).is_none()
        {
            return Err(MethodError::invalid(format!("unknown property \"{p}\"")));
        }
    }
    let body_props = opt_str_list(&args, "bodyProperties")?
        .unwrap_or_else(|| DEFAULT_BODY_PROPS.iter().map(|s| s.to_string()).collect());
    for p in &body_props {
        if !BODY_PROPS.contains(&p.as_str()) && body::parse_header_prop(p).is_none() {
            return Err(MethodError::invalid(format!("unknown body property \"{p}\"")));
        }
    }
    let fetch_text = opt_bool(&args, "fetchTextBodyValues", false)?;
    let fetch_html = opt_bool(&args, "fetchHTMLBodyValues", false)?;
    let fetch_all = opt_bool(&args, "fetchAllBodyValues", false)?;
    let max_bytes = match opt_int(&args, "maxBodyValueBytes")? {
        None => 0,
        Some(n) if n > 0 => n as usize,
        Some(_) => return Err(MethodError::invalid("maxBodyValueBytes must be a positive integer")),
    };
    let needs_parse = props.iter().any(|p| BODY_LEVEL.contains(&p.as_str()) || p.starts_with("header:"));

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
        for p in &props {
            if let Some(v) = list_value(r, p) {
                o.insert(p.clone(), v);
            }
        }
        if needs_parse {
            let raw = ctx.app.store.emails().raw(&mailbox, r.id)?.unwrap_or_default();
            let parsed = MessageParser::default().parse(&raw);
            let msg = match &parsed {
                Some(m) => m,
                None => {
                    // Not parseable at all: body properties are empty, headers null.
                    for p in &props {
                        if BODY_LEVEL.contains(&p.as_str()) {
                            o.insert(
                                p.clone(),
                                if p == "bodyValues" {
                                    json!({})
                                } else if p == "bodyStructure" {
                                    Value::Null
                                } else {
                                    json!([])
                                },
                            );
                        } else if p.starts_with("header:") {
                            o.insert(p.clone(), Value::Null);
                        }
                    }
                    list.push(Value::Object(o));
                    continue;
                }
            };
            for p in &props {
                let v = match p.as_str() {
                    "bodyStructure" => body::part_json(msg, r.id, 0, &body_props, true),
                    "textBody" => json!(
                        msg.text_body
                            .iter()
                            .map(|i| body::part_json(msg, r.id, *i as usize, &body_props, false))
                            .collect::<Vec<_>>()
                    ),
                    "htmlBody" => json!(
                        msg.html_body
                            .iter()
                            .map(|i| body::part_json(msg, r.id, *i as usize, &body_props, false))
                            .collect::<Vec<_>>()
                    ),
                    "attachments" => json!(
                        msg.attachments
                            .iter()
                            .map(|i| body::part_json(msg, r.id, *i as usize, &body_props, false))
                            .collect::<Vec<_>>()
                    ),
                    "headers" => body::part_json(msg, r.id, 0, &["headers".to_string()], false)["headers"].clone(),
                    "bodyValues" => {
                        let mut parts: Vec<usize> = Vec::new();
                        if fetch_all {
                            parts.extend((0..msg.parts.len()).filter(|i| body::is_text(msg, *i)));
                        } else {
                            if fetch_text {
                                parts.extend(msg.text_body.iter().map(|i| *i as usize));
                            }
                            if fetch_html {
                                parts.extend(msg.html_body.iter().map(|i| *i as usize));
                            }
                        }
                        let mut bv = Map::new();
                        for i in parts {
                            if let Some(v) = body::body_value(msg, i, max_bytes) {
                                bv.insert(i.to_string(), v);
                            }
                        }
                        Value::Object(bv)
                    }
                    other => match body::parse_header_prop(other) {
                        Some(hp) => body::header_prop_value(&msg.root_part().headers, &raw, &hp),
                        None => continue,
                    },
                };
                o.insert(p.clone(), v);
            }
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

/// A client's filter, within the documented limits, as the store's filter.
fn parse_filter(ctx: &Ctx<'_>, v: &Value) -> Result<EmailFilter, MethodError> {
    super::api::check_filter_size(v)?;
    parse_filter_node(ctx, v)
}

/// Parse a FilterOperator / FilterCondition into the store's filter.
fn parse_filter_node(ctx: &Ctx<'_>, v: &Value) -> Result<EmailFilter, MethodError> {
    let o = v.as_object().ok_or_else(|| MethodError::invalid("filter must be an object"))?;
    if let Some(op) = o.get("operator") {
        let conds = o
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| MethodError::invalid("a filter operator needs conditions"))?;
        let list = conds.iter().map(|c| parse_filter_node(ctx, c)).collect::<Result<Vec<_>, _>>()?;
        return match op.as_str() {
            Some("AND") => Ok(EmailFilter::And(list)),
            Some("OR") => Ok(EmailFilter::Or(list)),
            Some("NOT") => Ok(EmailFilter::Not(list)),
            _ => Err(MethodError::invalid("operator must be AND, OR or NOT")),
        };
    }
    let mut all = Vec::new();
    let mbox = |s: &Value| -> Result<i64, MethodError> {
        let s = s.as_str().ok_or_else(|| MethodError::invalid("a mailbox id must be a string"))?;
        // An unknown mailbox id simply matches nothing.
        Ok(ctx.resolve_id(s).as_deref().and_then(ids::parse_mailbox).unwrap_or(-1))
    };
    let text = |k: &str, v: &Value| -> Result<String, MethodError> {
        v.as_str().map(String::from).ok_or_else(|| MethodError::invalid(format!("filter {k} must be a string")))
    };
    let date = |k: &str, v: &Value| -> Result<i64, MethodError> {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp())
            .ok_or_else(|| MethodError::invalid(format!("filter {k} must be a UTCDate")))
    };
    for (k, v) in o {
        all.push(match k.as_str() {
            "inMailbox" => EmailFilter::InMailbox(mbox(v)?),
            "inMailboxOtherThan" => EmailFilter::InMailboxOtherThan(
                v.as_array()
                    .ok_or_else(|| MethodError::invalid("inMailboxOtherThan must be a list"))?
                    .iter()
                    .map(&mbox)
                    .collect::<Result<_, _>>()?,
            ),
            "before" => EmailFilter::Before(date(k, v)?),
            "after" => EmailFilter::After(date(k, v)?),
            "minSize" => {
                EmailFilter::MinSize(v.as_i64().ok_or_else(|| MethodError::invalid("minSize must be an integer"))?)
            }
            "maxSize" => {
                EmailFilter::MaxSize(v.as_i64().ok_or_else(|| MethodError::invalid("maxSize must be an integer"))?)
            }
            "hasKeyword" => EmailFilter::HasKeyword(text(k, v)?),
            "notKeyword" => EmailFilter::NotKeyword(text(k, v)?),
            "hasAttachment" => EmailFilter::HasAttachment(
                v.as_bool().ok_or_else(|| MethodError::invalid("hasAttachment must be a boolean"))?,
            ),
            "text" => EmailFilter::Text(text(k, v)?),
            "from" => EmailFilter::From(text(k, v)?),
            "to" => EmailFilter::To(text(k, v)?),
            "cc" => EmailFilter::Cc(text(k, v)?),
            "bcc" => EmailFilter::Bcc(text(k, v)?),
            "subject" => EmailFilter::Subject(text(k, v)?),
            "body" => EmailFilter::Body(text(k, v)?),
            other => {
                return Err(MethodError::with("unsupportedFilter", format!("filter \"{other}\" is not supported")));
            }
        });
    }
    Ok(EmailFilter::And(all))
}

fn parse_sort(args: &Map<String, Value>) -> Result<Vec<(EmailSortKey, bool)>, MethodError> {
    let Some(sort) = args.get("sort").filter(|s| !s.is_null()) else {
        return Ok(vec![(EmailSortKey::ReceivedAt, false)]);
    };
    let sort = sort.as_array().ok_or_else(|| MethodError::invalid("sort must be a list"))?;
    super::api::check_sort_size(args)?;
    sort.iter()
        .map(|c| {
            let key = match c.get("property").and_then(Value::as_str) {
                Some("receivedAt") => EmailSortKey::ReceivedAt,
                Some("sentAt") => EmailSortKey::SentAt,
                Some("size") => EmailSortKey::Size,
                Some("subject") => EmailSortKey::Subject,
                Some("from") => EmailSortKey::From,
                Some("to") => EmailSortKey::To,
                Some(p) => return Err(MethodError::with("unsupportedSort", format!("cannot sort by {p}"))),
                None => return Err(MethodError::invalid("a sort comparator needs a property")),
            };
            Ok((key, c.get("isAscending").and_then(Value::as_bool).unwrap_or(true)))
        })
        .collect()
}

/// The full sorted result of a query (collapsed to one email per thread if asked).
fn run_query(ctx: &Ctx<'_>, mailbox: &str, args: &Map<String, Value>) -> Result<Vec<i64>, MethodError> {
    let filter = match args.get("filter").filter(|f| !f.is_null()) {
        Some(f) => parse_filter(ctx, f)?,
        None => EmailFilter::And(vec![]),
    };
    let sort = parse_sort(args)?;
    let rows = ctx.app.store.emails().query(mailbox, &filter, &sort)?;
    if opt_bool(args, "collapseThreads", false)? {
        let mut seen = HashSet::new();
        Ok(rows.into_iter().filter(|(_, t)| seen.insert(*t)).map(|(id, _)| id).collect())
    } else {
        Ok(rows.into_iter().map(|(id, _)| id).collect())
    }
}

pub fn query(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let results = run_query(ctx, &mailbox, &args)?;
    let total = results.len();
    let mut limit = match opt_int(&args, "limit")? {
        None => limits::MAX_QUERY_LIMIT,
        Some(n) if n >= 0 => n as usize,
        Some(_) => return Err(MethodError::invalid("limit must not be negative")),
    };
    let clamped = limit > limits::MAX_QUERY_LIMIT;
    limit = limit.min(limits::MAX_QUERY_LIMIT);
    let start = if let Some(anchor) = opt_str(&args, "anchor")? {
        let a = ctx.resolve_id(anchor).as_deref().and_then(ids::parse_email);
        let Some(idx) = a.and_then(|a| results.iter().position(|r| *r == a)) else {
            return Err(MethodError::new("anchorNotFound"));
        };
        let off = opt_int(&args, "anchorOffset")?.unwrap_or(0);
        (idx as i64).saturating_add(off).clamp(0, total as i64) as usize
    } else {
        let pos = opt_int(&args, "position")?.unwrap_or(0);
        if pos < 0 { total.saturating_sub(pos.unsigned_abs() as usize) } else { (pos as usize).min(total) }
    };
    let ids: Vec<Value> = results.iter().skip(start).take(limit).map(|i| json!(ids::email(*i))).collect();
    let mut out = json!({
        "accountId": account_id,
        "queryState": ids::state(&states.epoch, states.modseq(ObjType::Email)),
        "canCalculateChanges": !opt_bool(&args, "collapseThreads", false)?,
        "position": start,
        "ids": ids,
    });
    if opt_bool(&args, "calculateTotal", false)? {
        out["total"] = json!(total);
    }
    if clamped {
        out["limit"] = json!(limit);
    }
    Ok(out)
}

pub fn query_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    // Limits first, whatever the state: an oversized filter is refused as such.
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        super::api::check_filter_size(f)?;
    }
    super::api::check_sort_size(&args)?;
    if opt_bool(&args, "collapseThreads", false)? {
        return Err(MethodError::with(
            "cannotCalculateChanges",
            "collapsed queries are not tracked; run Email/query again",
        ));
    }
    let since = opt_str(&args, "sinceQueryState")?
        .ok_or_else(|| MethodError::invalid("sinceQueryState is required"))?
        .to_string();
    let max = match opt_int(&args, "maxChanges")? {
        None => limits::MAX_CHANGES,
        Some(n) if n > 0 => n as usize,
        Some(_) => return Err(MethodError::invalid("maxChanges must be a positive integer")),
    };
    let states = ctx.states(&mailbox)?;
    let cannot = || MethodError::with("cannotCalculateChanges", "the query state is too old; run Email/query again");
    let since_m = ids::parse_state(&since, &states.epoch).ok_or_else(cannot)?;
    let c = match ctx.app.store.changes().since(&mailbox, ObjType::Email, since_m, limits::MAX_CHANGES)? {
        Ok(c) if !c.has_more => c,
        _ => return Err(cannot()),
    };
    let changed: HashSet<i64> = c.created.iter().chain(c.updated.iter()).copied().collect();
    if changed.len() + c.destroyed.len() > max {
        return Err(MethodError::new("tooManyChanges"));
    }
    let results = run_query(ctx, &mailbox, &args)?;
    let removed: Vec<Value> = c.updated.iter().chain(c.destroyed.iter()).map(|i| json!(ids::email(*i))).collect();
    let added: Vec<Value> = results
        .iter()
        .enumerate()
        .filter(|(_, id)| changed.contains(id))
        .map(|(idx, id)| json!({"id": ids::email(*id), "index": idx}))
        .collect();
    let mut out = json!({
        "accountId": account_id,
        "oldQueryState": since,
        "newQueryState": ids::state(&states.epoch, c.new_modseq),
        "removed": removed,
        "added": added,
    });
    if opt_bool(&args, "calculateTotal", false)? {
        out["total"] = json!(results.len());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Email/set

fn parse_update(ctx: &Ctx<'_>, patch: &Map<String, Value>) -> Result<EmailUpdate, Value> {
    let invalid = |p: &str, d: &str| json!({"type": "invalidProperties", "properties": [p], "description": d});
    let mut u = EmailUpdate::default();
    let mut kw_set: Vec<(String, bool)> = Vec::new();
    let mut mb_set: Vec<(i64, bool)> = Vec::new();
    for (k, v) in patch {
        if k == "keywords" {
            if !kw_set.is_empty() {
                return Err(json!({"type": "invalidPatch", "description": "keywords and keywords/… together"}));
            }
            let o = v.as_object().ok_or_else(|| invalid("keywords", "must be an object"))?;
            if o.values().any(|x| x != &Value::Bool(true)) {
                return Err(invalid("keywords", "values must be true"));
            }
            u.keywords = Some(KeywordPatch::Replace(o.keys().cloned().collect()));
        } else if let Some(kw) = k.strip_prefix("keywords/") {
            if matches!(u.keywords, Some(KeywordPatch::Replace(_))) {
                return Err(json!({"type": "invalidPatch", "description": "keywords and keywords/… together"}));
            }
            let on = match v {
                Value::Bool(true) => true,
                Value::Null | Value::Bool(false) => false,
                _ => return Err(invalid(k, "must be true or null")),
            };
            kw_set.push((kw.replace("~1", "/").replace("~0", "~"), on));
        } else if k == "mailboxIds" {
            if !mb_set.is_empty() {
                return Err(json!({"type": "invalidPatch", "description": "mailboxIds and mailboxIds/… together"}));
            }
            let o = v.as_object().ok_or_else(|| invalid("mailboxIds", "must be an object"))?;
            let list = o
                .keys()
                .map(|m| {
                    ctx.resolve_id(m)
                        .as_deref()
                        .and_then(ids::parse_mailbox)
                        .ok_or_else(|| invalid("mailboxIds", "unknown mailbox"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            u.folder = Some(MailboxPatch::Replace(list));
        } else if let Some(m) = k.strip_prefix("mailboxIds/") {
            let id = ctx
                .resolve_id(m)
                .as_deref()
                .and_then(ids::parse_mailbox)
                .ok_or_else(|| invalid(k, "unknown mailbox"))?;
            let on = match v {
                Value::Bool(true) => true,
                Value::Null | Value::Bool(false) => false,
                _ => return Err(invalid(k, "must be true or null")),
            };
            mb_set.push((id, on));
        } else {
            return Err(invalid(k, "cannot be changed (only keywords and mailboxIds can)"));
        }
    }
    if !kw_set.is_empty() {
        u.keywords = Some(KeywordPatch::Set(kw_set));
    }
    if !mb_set.is_empty() {
        u.folder = Some(MailboxPatch::Set(mb_set));
    }
    Ok(u)
}

fn addresses_of(v: Option<&Value>, prop: &str) -> Result<Vec<(Option<String>, String)>, Value> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                let email = x
                    .get("email")
                    .and_then(Value::as_str)
                    .filter(|e| e.contains('@') && body::one_line(e) && !e.contains(['<', '>', ' ', '\t']));
                let name = match x.get("name") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(n)) if body::one_line(n) => Some(n.clone()),
                    Some(_) => {
                        return Err(json!({"type": "invalidProperties", "properties": [prop], "description": "an address name must be one line of text"}));
                    }
                };
                match email {
                    Some(e) => Ok((name, e.to_string())),
                    None => Err(json!({"type": "invalidProperties", "properties": [prop], "description": "each address needs a valid email"})),
                }
            })
            .collect(),
        Some(_) => Err(json!({"type": "invalidProperties", "properties": [prop]})),
    }
}

/// Build the raw bytes of a created email from its JMAP properties.
fn draft_from(ctx: &Ctx<'_>, mailbox: &str, o: &Map<String, Value>) -> Result<Vec<u8>, Value> {
    let invalid = |p: &str, d: &str| json!({"type": "invalidProperties", "properties": [p], "description": d});
    let mut d = Draft {
        from: addresses_of(o.get("from"), "from")?,
        sender: addresses_of(o.get("sender"), "sender")?,
        to: addresses_of(o.get("to"), "to")?,
        cc: addresses_of(o.get("cc"), "cc")?,
        bcc: addresses_of(o.get("bcc"), "bcc")?,
        reply_to: addresses_of(o.get("replyTo"), "replyTo")?,
        subject: match o.get("subject") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if body::one_line(s) => Some(s.clone()),
            Some(Value::String(_)) => return Err(invalid("subject", "no line breaks in the subject")),
            Some(_) => return Err(invalid("subject", "must be a string")),
        },
        ..Default::default()
    };
    if let Some(s) = o.get("sentAt").and_then(Value::as_str) {
        d.sent_at =
            Some(chrono::DateTime::parse_from_rfc3339(s).map_err(|_| invalid("sentAt", "not a date"))?.timestamp());
    }
    let ids_of = |p: &str| -> Result<Vec<String>, Value> {
        match o.get(p) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .filter(|s| body::one_line(s) && !s.contains(['<', '>', ' ', '\t']))
                        .map(String::from)
                        .ok_or_else(|| invalid(p, "message ids without <>"))
                })
                .collect(),
            _ => Err(invalid(p, "must be a list")),
        }
    };
    d.message_id = ids_of("messageId")?.into_iter().next();
    d.in_reply_to = ids_of("inReplyTo")?;
    d.references = ids_of("references")?;
    let values = o.get("bodyValues").and_then(Value::as_object).cloned().unwrap_or_default();
    let body_text = |parts: Option<&Value>, prop: &str| -> Result<Option<String>, Value> {
        let Some(Value::Array(parts)) = parts else { return Ok(None) };
        let mut out = String::new();
        for p in parts {
            let pid = p
                .get("partId")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(prop, "each part needs a partId into bodyValues"))?;
            let v = values
                .get(pid)
                .and_then(|v| v.get("value"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("bodyValues", "a partId has no value"))?;
            out.push_str(v);
        }
        Ok(Some(out))
    };
    if o.contains_key("bodyStructure") {
        return Err(invalid("bodyStructure", "create with textBody/htmlBody and bodyValues instead"));
    }
    d.text = body_text(o.get("textBody"), "textBody")?;
    d.html = body_text(o.get("htmlBody"), "htmlBody")?;
    if let Some(Value::Array(atts)) = o.get("attachments") {
        for a in atts {
            let blob = a
                .get("blobId")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("attachments", "each attachment needs a blobId"))?;
            let data = super::blob::read_blob(ctx.app, mailbox, blob)
                .ok()
                .flatten()
                .ok_or_else(|| json!({"type": "blobNotFound", "notFound": [blob]}))?;
            // Each of these becomes part of a MIME header of the attachment.
            let ty = a.get("type").and_then(Value::as_str).unwrap_or("application/octet-stream").to_string();
            if !body::is_mime_type(&ty) {
                return Err(invalid("attachments", "an attachment's type must be a MIME type like application/pdf"));
            }
            let name = a.get("name").and_then(Value::as_str).map(String::from);
            if name.as_deref().is_some_and(|n| !body::one_line(n)) {
                return Err(invalid("attachments", "an attachment's name must be one line of text"));
            }
            let cid = if a.get("disposition").and_then(Value::as_str) == Some("inline") {
                a.get("cid").and_then(Value::as_str).map(String::from)
            } else {
                None
            };
            if cid.as_deref().is_some_and(|c| !body::one_line(c) || c.contains(['<', '>', ' ', '\t'])) {
                return Err(invalid("attachments", "an attachment's cid must be a content id without <>"));
            }
            d.attachments.push((ty, name, data, cid));
        }
    }
    for (k, v) in o {
        if let Some(hp) = body::parse_header_prop(k) {
            let s = v.as_str().ok_or_else(|| invalid(k, "header values are strings"))?;
            if !body::one_line(s) {
                return Err(invalid(k, "no line breaks in header values"));
            }
            d.headers.push((hp.name, s.to_string()));
        } else if !matches!(
            k.as_str(),
            "mailboxIds"
                | "keywords"
                | "receivedAt"
                | "from"
                | "sender"
                | "to"
                | "cc"
                | "bcc"
                | "replyTo"
                | "subject"
                | "sentAt"
                | "messageId"
                | "inReplyTo"
                | "references"
                | "textBody"
                | "htmlBody"
                | "bodyValues"
                | "attachments"
        ) {
            return Err(invalid(k, "cannot be set on create"));
        }
    }
    let domain = ctx
        .app
        .config
        .mailbox(mailbox)
        .and_then(|m| m.company_domains().into_iter().next())
        .unwrap_or_else(|| "postbote.invalid".into());
    Ok(body::build_draft(&d, &domain, crate::store::now()))
}

/// The one mailbox and the keywords of a create (Email/set or Email/import).
fn placement(ctx: &Ctx<'_>, o: &Map<String, Value>) -> Result<(i64, Vec<String>), Value> {
    let invalid = |p: &str, d: &str| json!({"type": "invalidProperties", "properties": [p], "description": d});
    let mb = o.get("mailboxIds").and_then(Value::as_object).ok_or_else(|| invalid("mailboxIds", "is required"))?;
    let list: Vec<i64> = mb
        .iter()
        .filter(|(_, v)| **v == Value::Bool(true))
        .map(|(k, _)| {
            ctx.resolve_id(k)
                .as_deref()
                .and_then(ids::parse_mailbox)
                .ok_or_else(|| invalid("mailboxIds", "unknown mailbox"))
        })
        .collect::<Result<_, _>>()?;
    let folder = match list.as_slice() {
        [one] => *one,
        [] => return Err(invalid("mailboxIds", "an email must be in a mailbox")),
        _ => return Err(json!({"type": "tooManyMailboxes", "description": "an email is in exactly one mailbox here"})),
    };
    let keywords = match o.get("keywords") {
        None | Some(Value::Null) => vec![],
        Some(Value::Object(k)) => {
            k.iter().filter(|(_, v)| **v == Value::Bool(true)).map(|(k, _)| k.to_lowercase()).collect()
        }
        Some(_) => return Err(invalid("keywords", "must be an object")),
    };
    Ok((folder, keywords))
}

fn received_at(o: &Map<String, Value>) -> i64 {
    o.get("receivedAt")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or_else(crate::store::now, |d| d.timestamp())
}

pub fn set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let SetArgs { create, update, destroy } = set_args(&args, &states, ObjType::Email)?;
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (cid, obj) in create {
        let Some(o) = obj.as_object() else {
            not_created.insert(cid, json!({"type": "invalidProperties", "description": "must be an object"}));
            continue;
        };
        let r = placement(ctx, o).and_then(|(folder, kw)| draft_from(ctx, &mailbox, o).map(|raw| (folder, kw, raw)));
        let (folder, kw, raw) = match r {
            Ok(x) => x,
            Err(e) => {
                not_created.insert(cid, e);
                continue;
            }
        };
        match ctx.app.store.emails().create(&mailbox, folder, raw, &kw, received_at(o))? {
            Ok(c) => {
                ctx.created.insert(cid.clone(), ids::email(c.id));
                created.insert(
                    cid,
                    json!({"id": ids::email(c.id), "blobId": ids::blob(c.blob_id), "threadId": ids::thread(c.thread_id), "size": c.size}),
                );
            }
            Err(f) => {
                not_created.insert(cid, set_error(f));
            }
        }
    }
    let mut updates = Vec::new();
    let mut not_updated = Map::new();
    let mut update_keys = Vec::new();
    for (id, patch) in update {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(ids::parse_email) else {
            not_updated.insert(id, json!({"type": "notFound"}));
            continue;
        };
        match patch.as_object().ok_or_else(|| json!({"type": "invalidPatch"})).and_then(|p| parse_update(ctx, p)) {
            Ok(u) => {
                updates.push((n, u));
                update_keys.push(id);
            }
            Err(e) => {
                not_updated.insert(id, e);
            }
        }
    }
    let mut destroys = Vec::new();
    let mut destroy_keys = Vec::new();
    let mut not_destroyed = Map::new();
    for id in destroy {
        match ctx.resolve_id(&id).as_deref().and_then(ids::parse_email) {
            Some(n) => {
                destroys.push(n);
                destroy_keys.push(id);
            }
            None => {
                not_destroyed.insert(id, json!({"type": "notFound"}));
            }
        }
    }
    let mut updated = Map::new();
    let mut destroyed = Vec::new();
    if !updates.is_empty() || !destroys.is_empty() {
        // The state was checked above; creates in this same call may have moved it on.
        let Some((up, de)) = ctx.app.store.emails().set(&mailbox, None, &updates, &destroys)? else {
            return Err(MethodError::new("stateMismatch"));
        };
        for (key, r) in update_keys.into_iter().zip(up) {
            match r {
                Ok(()) => {
                    updated.insert(key, Value::Null);
                }
                Err(f) => {
                    not_updated.insert(key, set_error(f));
                }
            }
        }
        for (key, r) in destroy_keys.into_iter().zip(de) {
            match r {
                Ok(()) => destroyed.push(json!(key)),
                Err(f) => {
                    not_destroyed.insert(key, set_error(f));
                }
            }
        }
    }
    written_back(
        ctx,
        &account_id,
        &mailbox,
        &states,
        ObjType::Email,
        json!({
            "created": created, "updated": updated, "destroyed": destroyed,
            "notCreated": not_created, "notUpdated": not_updated, "notDestroyed": not_destroyed,
        }),
    )
}

pub fn import(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    check_if_in_state(&args, &states, ObjType::Email)?;
    let emails = args
        .get("emails")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| MethodError::invalid("emails is required"))?;
    if emails.len() > limits::MAX_OBJECTS_IN_SET {
        return Err(MethodError::with(
            "requestTooLarge",
            format!("at most {} emails per import", limits::MAX_OBJECTS_IN_SET),
        ));
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (cid, obj) in emails {
        let Some(o) = obj.as_object() else {
            not_created.insert(cid, json!({"type": "invalidProperties"}));
            continue;
        };
        let (folder, kw) = match placement(ctx, o) {
            Ok(x) => x,
            Err(e) => {
                not_created.insert(cid, e);
                continue;
            }
        };
        let blob = o.get("blobId").and_then(Value::as_str).unwrap_or_default();
        let Some(raw) = super::blob::read_blob(ctx.app, &mailbox, blob)? else {
            not_created.insert(cid, json!({"type": "blobNotFound", "notFound": [blob]}));
            continue;
        };
        if crate::message::parse(&raw).problem.as_deref().is_some_and(|p| p.contains("not a message")) {
            not_created
                .insert(cid, json!({"type": "invalidEmail", "description": "the blob is not an RFC 5322 message"}));
            continue;
        }
        match ctx.app.store.emails().create(&mailbox, folder, raw, &kw, received_at(o))? {
            Ok(c) => {
                ctx.created.insert(cid.clone(), ids::email(c.id));
                created.insert(cid, json!({"id": ids::email(c.id), "blobId": ids::blob(c.blob_id), "threadId": ids::thread(c.thread_id), "size": c.size}));
            }
            Err(f) => {
                not_created.insert(cid, set_error(f));
            }
        }
    }
    written_back(
        ctx,
        &account_id,
        &mailbox,
        &states,
        ObjType::Email,
        json!({"created": created, "notCreated": not_created}),
    )
}

/// Search terms of a filter that a snippet can highlight.
fn terms(f: &EmailFilter, out: &mut Vec<String>) {
    match f {
        EmailFilter::And(l) | EmailFilter::Or(l) => l.iter().for_each(|x| terms(x, out)),
        EmailFilter::Text(s) | EmailFilter::Subject(s) | EmailFilter::Body(s) => {
            out.push(crate::message::search_needle(s))
        }
        _ => {}
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `s` with the first occurrence of any term marked, or None if no term occurs.
fn mark(s: &str, terms: &[String]) -> Option<String> {
    if !crate::message::lowercase_keeps_offsets(s) {
        // Lowercasing would move byte offsets (a few letters such as 'İ'): no risky cut.
        return None;
    }
    let lower = s.to_lowercase();
    let (pos, len) =
        terms.iter().filter(|t| !t.is_empty()).filter_map(|t| lower.find(t.as_str()).map(|p| (p, t.len()))).min()?;
    Some(format!(
        "{}<mark>{}</mark>{}",
        escape_html(&s[..pos]),
        escape_html(&s[pos..pos + len]),
        escape_html(&s[pos + len..])
    ))
}

pub fn search_snippets(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = opt_str_list(&args, "emailIds")?.ok_or_else(|| MethodError::invalid("emailIds is required"))?;
    if want.len() > limits::MAX_OBJECTS_IN_GET {
        return Err(MethodError::new("requestTooLarge"));
    }
    let mut t = Vec::new();
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        terms(&parse_filter(ctx, f)?, &mut t);
    }
    let nums: Vec<i64> = want.iter().filter_map(|i| ids::parse_email(i)).collect();
    let rows = ctx.app.store.emails().get(&mailbox, &nums)?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in want {
        match ids::parse_email(&id).and_then(|n| rows.iter().find(|r| r.id == n)) {
            Some(r) => {
                // A hit beyond the preview is shown from the body around it.
                let preview = mark(&r.preview, &t).or_else(|| {
                    let raw = ctx.app.store.messages().raw(r.id).ok().flatten()?;
                    mark(&crate::message::body_snippet(&raw, &t)?, &t)
                });
                list.push(json!({"emailId": id, "subject": mark(&r.subject, &t), "preview": preview}))
            }
            None => not_found.push(id),
        }
    }
    Ok(json!({"accountId": account_id, "list": list, "notFound": not_found}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_and_escape() {
        let t = vec!["bad".to_string()];
        assert_eq!(mark("Bad in Köln", &t).as_deref(), Some("<mark>Bad</mark> in Köln"));
        assert_eq!(
            mark("Angebot <Bad> & Kueche", &t).as_deref(),
            Some("Angebot &lt;<mark>Bad</mark>&gt; &amp; Kueche")
        );
        assert_eq!(mark("nichts", &t), None);
        // A letter whose lowercase is longer or shorter in UTF-8 never leads to a bad cut.
        assert_eq!(mark("İstanbul: Bad und Rückrufä Ω", &t), None);
        assert_eq!(mark("ẞ Bad", &t), None);
    }
}
