//! `Email/set` and `Email/import` (RFC 8621 sections 4.6 and 4.8): keyword and mailbox patches,
//! drafts built from JMAP properties (`body::build_draft`), and imports of uploaded blobs. Each
//! writes to the store at once and queues the IMAP side; the response wakes the write-back.

use serde_json::{Map, Value, json};

use crate::jmap::body::{self, Draft};
use crate::jmap::method::{Ctx, MethodError, MethodResult};
use crate::jmap::set::{SetArgs, SetResponse, check_if_in_state, set_args, set_error};
use crate::jmap::{ids, limits};
use crate::store::ObjType;
use crate::store::email_set::EmailUpdate;
use crate::store::email_set::KeywordPatch;
use crate::store::email_set::MailboxPatch;

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
            let data = ctx
                .blob(mailbox, blob)
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
    let mut resp = SetResponse::default();
    for (cid, obj) in create {
        let Some(o) = obj.as_object() else {
            resp.not_created(cid, json!({"type": "invalidProperties", "description": "must be an object"}));
            continue;
        };
        let r = placement(ctx, o).and_then(|(folder, kw)| draft_from(ctx, &mailbox, o).map(|raw| (folder, kw, raw)));
        let (folder, kw, raw) = match r {
            Ok(x) => x,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        match ctx.app.store.emails().create(&mailbox, folder, raw, &kw, received_at(o))? {
            Ok(c) => {
                ctx.created.insert(cid.clone(), ids::email(c.id));
                resp.created(
                    cid,
                    json!({"id": ids::email(c.id), "blobId": ids::blob(c.blob_id), "threadId": ids::thread(c.thread_id), "size": c.size}),
                );
            }
            Err(f) => {
                resp.not_created(cid, set_error(f));
            }
        }
    }
    let mut updates = Vec::new();
    let mut update_keys = Vec::new();
    for (id, patch) in update {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(ids::parse_email) else {
            resp.not_updated(id, json!({"type": "notFound"}));
            continue;
        };
        match patch.as_object().ok_or_else(|| json!({"type": "invalidPatch"})).and_then(|p| parse_update(ctx, p)) {
            Ok(u) => {
                updates.push((n, u));
                update_keys.push(id);
            }
            Err(e) => {
                resp.not_updated(id, e);
            }
        }
    }
    let mut destroys = Vec::new();
    let mut destroy_keys = Vec::new();
    for id in destroy {
        match ctx.resolve_id(&id).as_deref().and_then(ids::parse_email) {
            Some(n) => {
                destroys.push(n);
                destroy_keys.push(id);
            }
            None => {
                resp.not_destroyed(id, json!({"type": "notFound"}));
            }
        }
    }
    if !updates.is_empty() || !destroys.is_empty() {
        // The state was checked above; creates in this same call may have moved it on.
        let Some((up, de)) = ctx.app.store.emails().set(&mailbox, None, &updates, &destroys)? else {
            return Err(MethodError::new("stateMismatch"));
        };
        for (key, r) in update_keys.into_iter().zip(up) {
            match r {
                Ok(()) => {
                    resp.updated(key);
                }
                Err(f) => {
                    resp.not_updated(key, set_error(f));
                }
            }
        }
        for (key, r) in destroy_keys.into_iter().zip(de) {
            match r {
                Ok(()) => resp.destroyed(key),
                Err(f) => {
                    resp.not_destroyed(key, set_error(f));
                }
            }
        }
    }
    resp.written_back(ctx, &account_id, &mailbox, &states, ObjType::Email)
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
    let mut resp = SetResponse::default();
    for (cid, obj) in emails {
        let Some(o) = obj.as_object() else {
            resp.not_created(cid, json!({"type": "invalidProperties"}));
            continue;
        };
        let (folder, kw) = match placement(ctx, o) {
            Ok(x) => x,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        let blob = o.get("blobId").and_then(Value::as_str).unwrap_or_default();
        let Some(raw) = ctx.blob(&mailbox, blob)? else {
            resp.not_created(cid, json!({"type": "blobNotFound", "notFound": [blob]}));
            continue;
        };
        if crate::message::parse(&raw).problem.as_deref().is_some_and(|p| p.contains("not a message")) {
            resp.not_created(
                cid,
                json!({"type": "invalidEmail", "description": "the blob is not an RFC 5322 message"}),
            );
            continue;
        }
        match ctx.app.store.emails().create(&mailbox, folder, raw, &kw, received_at(o))? {
            Ok(c) => {
                ctx.created.insert(cid.clone(), ids::email(c.id));
                resp.created(cid, json!({"id": ids::email(c.id), "blobId": ids::blob(c.blob_id), "threadId": ids::thread(c.thread_id), "size": c.size}));
            }
            Err(f) => {
                resp.not_created(cid, set_error(f));
            }
        }
    }
    resp.imported(ctx, &account_id, &mailbox, &states)
}
