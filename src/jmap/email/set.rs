//! `Email/set` and `Email/import` (RFC 8621 sections 4.6 and 4.8): keyword and mailbox patches,
//! drafts built from JMAP properties (checked by `create`, written by `build`), and imports of
//! uploaded blobs. Each writes to the store at once and queues the IMAP side; the response
//! wakes the write-back. An email is in exactly one mailbox (the hosted server is IMAP, a
//! message is in one folder): a create, an import or an update that would give it two is
//! refused with `tooManyMailboxes`, the `maxMailboxesPerEmail` of 1 the session advertises.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::{Map, Value, json};

use super::{build, create};
use crate::jmap::method::{Ctx, MethodError, MethodResult, invalid_property as invalid};
use crate::jmap::placement::{self, too_many_mailboxes};
use crate::jmap::set::{SetArgs, SetResponse, check_if_in_state, set_args, set_error};
use crate::jmap::{body, ids, limits};
use crate::store::email_set::EmailUpdate;
use crate::store::email_set::KeywordPatch;
use crate::store::email_set::MailboxPatch;
use crate::store::{ObjType, StoreError};

fn parse_update(ctx: &Ctx<'_>, patch: &Map<String, Value>) -> Result<EmailUpdate, Value> {
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
            // RFC 8621 section 4.1.1: every value of a whole mailboxIds is true.
            if o.values().any(|x| x != &Value::Bool(true)) {
                return Err(invalid("mailboxIds", "values must be true"));
            }
            let list = o
                .keys()
                .map(|m| {
                    ctx.resolve_id(m)
                        .as_deref()
                        .and_then(ids::parse_mailbox)
                        .ok_or_else(|| invalid("mailboxIds", "unknown mailbox"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if list.len() > 1 {
                return Err(too_many_mailboxes());
            }
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

/// Refuse a `mailboxIds/X` patch that would leave email `n` in more than one mailbox.
fn one_mailbox_after(ctx: &Ctx<'_>, mailbox: &str, n: i64, u: EmailUpdate) -> Result<EmailUpdate, Value> {
    let Some(MailboxPatch::Set(pairs)) = &u.folder else { return Ok(u) };
    // An email that is gone is the store's notFound, below.
    let Some(row) = ctx.app.store.emails().get(mailbox, &[n]).ok().and_then(|r| r.into_iter().next()) else {
        return Ok(u);
    };
    let mut after = vec![row.folder_id];
    for (f, on) in pairs {
        after.retain(|x| x != f);
        if *on {
            after.push(*f);
        }
    }
    if after.len() > 1 { Err(too_many_mailboxes()) } else { Ok(u) }
}

/// Build the raw bytes of a created email from its JMAP properties (`create` checks them,
/// `build` writes them). Each distinct blob id is read once, and each email a `P<email>-<part>`
/// id names is parsed once; a store error while reading is the method's error, not a missing
/// blob.
fn draft_from(ctx: &Ctx<'_>, mailbox: &str, o: &Map<String, Value>) -> Result<Result<Vec<u8>, Value>, MethodError> {
    let mut messages: HashMap<i64, Option<mail_parser::Message<'static>>> = HashMap::new();
    let read = |b: &str| -> Result<Option<Vec<u8>>, StoreError> {
        match ids::parse_blob(b) {
            Some(ids::BlobRef::Stored(id)) => ctx.app.store.blobs().get(mailbox, id),
            Some(ids::BlobRef::Part { email, part }) => {
                let m = match messages.entry(email) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        let raw = ctx.app.store.emails().raw(mailbox, email)?;
                        e.insert(
                            raw.and_then(|r| mail_parser::MessageParser::default().parse(&r).map(|m| m.into_owned())),
                        )
                    }
                };
                Ok(m.as_ref().and_then(|m| body::part_bytes(m, part)))
            }
            None => Ok(None),
        }
    };
    let mut failed = None;
    let d = create::draft(o, &mut read_once(read, &mut failed));
    if let Some(e) = failed {
        return Err(e.into());
    }
    let domain = ctx
        .app
        .config
        .mailbox(mailbox)
        .and_then(|m| m.company_domains().into_iter().next())
        .unwrap_or_else(|| "postbote.invalid".into());
    Ok(d.map(|d| build::build(d, &domain, crate::store::now())))
}

/// `read` behind a memo: each distinct blob id is read once. The first store error is kept in
/// `failed` (every later read answers None), for the caller to return once the draft is done.
fn read_once<'a>(
    mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, StoreError> + 'a,
    failed: &'a mut Option<StoreError>,
) -> impl FnMut(&str) -> Option<Vec<u8>> + 'a {
    let mut seen: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    move |b: &str| {
        if failed.is_some() {
            return None;
        }
        if let Some(v) = seen.get(b) {
            return v.clone();
        }
        match read(b) {
            Ok(v) => {
                seen.insert(b.to_string(), v.clone());
                v
            }
            Err(e) => {
                *failed = Some(e);
                None
            }
        }
    }
}

/// The one mailbox, the keywords and the receivedAt of a create (Email/set or Email/import):
/// no keywords when none are given, received now when no receivedAt is.
fn placement(ctx: &Ctx<'_>, o: &Map<String, Value>) -> Result<(i64, Vec<String>, i64), Value> {
    let p = placement::parse(|s| ctx.resolve_id(s), o)?;
    Ok((p.folder, p.keywords.unwrap_or_default(), p.received_at.unwrap_or_else(crate::store::now)))
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
        let r = match placement(ctx, o) {
            Ok((folder, kw, at)) => draft_from(ctx, &mailbox, o)?.map(|raw| (folder, kw, at, raw)),
            Err(e) => Err(e),
        };
        let (folder, kw, at, raw) = match r {
            Ok(x) => x,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        match ctx.app.store.emails().create(&mailbox, folder, raw, &kw, at)? {
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
        let parsed = patch
            .as_object()
            .ok_or_else(|| json!({"type": "invalidPatch"}))
            .and_then(|p| parse_update(ctx, p))
            .and_then(|u| one_mailbox_after(ctx, &mailbox, n, u));
        match parsed {
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
        let (folder, kw, at) = match placement(ctx, o) {
            Ok(x) => x,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        // RFC 8621 section 4.8: a blobId that names no blob is an invalid property of the
        // import, not blobNotFound.
        let raw = match o.get("blobId").and_then(Value::as_str) {
            Some(blob) => ctx.blob(&mailbox, blob)?,
            None => None,
        };
        let Some(raw) = raw else {
            resp.not_created(
                cid,
                json!({"type": "invalidProperties", "properties": ["blobId"], "description": "no such blob in this account"}),
            );
            continue;
        };
        if crate::message::parse(&raw).problem.as_deref().is_some_and(|p| p.contains("not a message")) {
            resp.not_created(
                cid,
                json!({"type": "invalidEmail", "description": "the blob is not an RFC 5322 message"}),
            );
            continue;
        }
        match ctx.app.store.emails().create(&mailbox, folder, raw, &kw, at)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_named_twice_is_read_once_and_a_store_error_is_kept() {
        let mut calls = Vec::new();
        let mut failed = None;
        {
            let mut read = read_once(
                |b: &str| {
                    calls.push(b.to_string());
                    match b {
                        "B1" => Ok(Some(b"one".to_vec())),
                        "B2" => Err(StoreError::Other("disk".into())),
                        _ => Ok(None),
                    }
                },
                &mut failed,
            );
            assert_eq!(read("B1").as_deref(), Some(&b"one"[..]));
            assert_eq!(read("B1").as_deref(), Some(&b"one"[..]));
            assert_eq!(read("B9"), None);
            assert_eq!(read("B9"), None);
            assert_eq!(read("B2"), None);
            assert_eq!(read("B1"), None, "after a store error nothing more is read");
        }
        assert_eq!(calls, ["B1", "B9", "B2"]);
        assert!(failed.is_some(), "the store error is kept for the caller, not taken for a missing blob");
    }
}
