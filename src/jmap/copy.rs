//! `Email/copy` (RFC 8620 section 5.4, RFC 8621 section 4.7) and `Blob/copy` (RFC 8620
//! section 6.3): from one account the device may use into another (its own mailbox and the
//! shared ones it was granted; anything else is `fromAccountNotFound`). A copy within one
//! account is `invalidArguments`: that is what `Email/set` with `mailboxIds` is for.
//!
//! A copied email is a new message of the target account, stored and queued for APPEND by the
//! same store call as `Email/import` (`store.emails().create`), so it reaches the hosted server
//! through the write-back queue like any message made on a phone. Its keywords and
//! `receivedAt` are the original's unless the create says otherwise; `mailboxIds` must name
//! exactly one mailbox of the target account (`maxMailboxesPerEmail` is 1). With
//! `onSuccessDestroyOriginal` the originals copied are destroyed by an implicit `Email/set` in
//! the from-account (asked of the dispatcher through `Ctx::then`, answered as a second
//! response under the same call id), guarded by `destroyFromIfInState`. The original's
//! expunge from its server then waits for the copy's APPEND to the other (the store records
//! which copy came from which original); if that APPEND is given up, the expunge is dropped
//! and the original comes back in its account.
//!
//! A copied blob is readable in the target account like an upload of it: the bytes are the
//! same stored blob (content-addressed); a part of an email becomes a blob of its own.

use serde_json::{Map, Value, json};

use super::method::{
    Ctx, MethodError, MethodResult, invalid_property as invalid, opt_bool, opt_str, opt_str_list, utc,
};
use super::set::{SetResponse, check_if_in_state, set_error};
use super::{ids, limits, placement};
use crate::store::ObjType;

/// The from-account of a /copy: `fromAccountId` the device may use, not `account_id` itself.
/// Returns (fromAccountId, its mailbox).
fn from_account(ctx: &Ctx<'_>, args: &Map<String, Value>, account_id: &str) -> Result<(String, String), MethodError> {
    let from = opt_str(args, "fromAccountId")?.ok_or_else(|| MethodError::invalid("fromAccountId is required"))?;
    if from == account_id {
        return Err(MethodError::invalid(
            "fromAccountId and accountId are the same account; use Email/set to file an email elsewhere",
        ));
    }
    match ctx.authed.mailbox(from) {
        Some(m) => Ok((from.to_string(), m.to_string())),
        None => Err(MethodError::with("fromAccountNotFound", format!("no account \"{from}\" for this device"))),
    }
}

/// What a create of Email/copy asks for, checked: the original's id, the one target mailbox,
/// and the keywords and receivedAt if given.
#[derive(Debug, PartialEq)]
struct CopyCreate {
    id: i64,
    folder: i64,
    keywords: Option<Vec<String>>,
    received_at: Option<i64>,
}

/// `resolve` is `Ctx::resolve_id` (creation ids of this request).
fn parse_create(resolve: impl Fn(&str) -> Option<String>, o: &Map<String, Value>) -> Result<CopyCreate, Value> {
    if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "id" | "mailboxIds" | "keywords" | "receivedAt")) {
        return Err(invalid(k, "only mailboxIds, keywords and receivedAt can be given on a copy"));
    }
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .and_then(&resolve)
        .ok_or_else(|| invalid("id", "the id of the email to copy is required"))?;
    let id =
        ids::parse_email(&id).ok_or_else(|| json!({"type": "notFound", "description": "no such email to copy"}))?;
    let placement::Placement { folder, keywords, received_at } = placement::parse(&resolve, o)?;
    Ok(CopyCreate { id, folder, keywords, received_at })
}

pub fn email_copy(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let (from_id, from_mailbox) = from_account(ctx, &args, &account_id)?;
    let from_states = ctx.states(&from_mailbox)?;
    if let Some(s) = opt_str(&args, "ifFromInState")?
        && ids::parse_state(s, &from_states.epoch) != Some(from_states.modseq(ObjType::Email))
    {
        return Err(MethodError::with("stateMismatch", "ifFromInState is not the from-account's Email state"));
    }
    let states = ctx.states(&mailbox)?;
    check_if_in_state(&args, &states, ObjType::Email)?;
    let create = match args.get("create") {
        Some(Value::Object(o)) => o.clone(),
        _ => return Err(MethodError::invalid("create (the emails to copy) is required")),
    };
    if create.len() > limits::MAX_OBJECTS_IN_SET {
        return Err(MethodError::with(
            "requestTooLarge",
            format!("at most {} emails per copy", limits::MAX_OBJECTS_IN_SET),
        ));
    }
    let destroy_original = opt_bool(&args, "onSuccessDestroyOriginal", false)?;
    let destroy_if = opt_str(&args, "destroyFromIfInState")?.map(String::from);

    let mut resp = SetResponse::default();
    let mut copied = Vec::new();
    for (cid, obj) in create {
        let Some(o) = obj.as_object() else {
            resp.not_created(cid, json!({"type": "invalidProperties", "description": "must be an object"}));
            continue;
        };
        let c = match parse_create(|s| ctx.resolve_id(s), o) {
            Ok(c) => c,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        let original = ctx.app.store.emails().get(&from_mailbox, &[c.id])?.into_iter().next();
        let raw = match original {
            Some(_) => ctx.app.store.emails().raw(&from_mailbox, c.id)?,
            None => None,
        };
        let (Some(original), Some(raw)) = (original, raw) else {
            resp.not_created(cid, json!({"type": "notFound", "description": "no such email in the from-account"}));
            continue;
        };
        let keywords = c.keywords.unwrap_or_else(|| original.keywords.iter().map(|k| k.to_lowercase()).collect());
        let received_at = c.received_at.unwrap_or(original.received_at);
        match ctx.app.store.emails().create(&mailbox, c.folder, raw, &keywords, received_at)? {
            Ok(n) => {
                if destroy_original {
                    // The original's expunge then waits for this copy's APPEND.
                    ctx.app.store.emails().copied_from(n.id, c.id)?;
                }
                ctx.created.insert(cid.clone(), ids::email(n.id));
                resp.created(
                    cid,
                    json!({"id": ids::email(n.id), "blobId": ids::blob(n.blob_id), "threadId": ids::thread(n.thread_id),
                           "size": n.size, "receivedAt": utc(received_at)}),
                );
                // The same original copied twice is destroyed once.
                let original = ids::email(c.id);
                if !copied.contains(&original) {
                    copied.push(original);
                }
            }
            Err(f) => resp.not_created(cid, set_error(f)),
        }
    }
    let mut body = resp.imported(ctx, &account_id, &mailbox, &states)?;
    body["fromAccountId"] = json!(from_id);
    if destroy_original && !copied.is_empty() {
        let mut set = Map::new();
        set.insert("accountId".into(), json!(from_id));
        set.insert("destroy".into(), json!(copied));
        if let Some(s) = destroy_if {
            set.insert("ifInState".into(), json!(s));
        }
        ctx.then.push(("Email/set", set));
    }
    Ok(body)
}

pub fn blob_copy(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let (from_id, from_mailbox) = from_account(ctx, &args, &account_id)?;
    let blob_ids = opt_str_list(&args, "blobIds")?.ok_or_else(|| MethodError::invalid("blobIds is required"))?;
    if blob_ids.len() > limits::MAX_OBJECTS_IN_SET {
        return Err(MethodError::with(
            "requestTooLarge",
            format!("at most {} blobs per copy", limits::MAX_OBJECTS_IN_SET),
        ));
    }
    let mut copied = Map::new();
    let mut not_copied = Map::new();
    for b in blob_ids {
        match ctx.blob(&from_mailbox, &b)? {
            Some(bytes) => {
                let id = ctx.app.store.blobs().upload(&mailbox, &bytes)?;
                copied.insert(b, json!(ids::blob(id)));
            }
            None => {
                // RFC 8620 section 6.3: a blob that cannot be found is `notFound`.
                not_copied.insert(b, json!({"type": "notFound"}));
            }
        }
    }
    let or_null = |m: Map<String, Value>| if m.is_empty() { Value::Null } else { Value::Object(m) };
    Ok(
        json!({"fromAccountId": from_id, "accountId": account_id, "copied": or_null(copied), "notCopied": or_null(not_copied)}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A create's checks, without a store: the id, exactly one mailbox, keywords, receivedAt,
    /// and nothing else may be given.
    #[test]
    fn a_copy_create_is_checked_before_any_store_work() {
        // As `Ctx::resolve_id` with the creation id "k" made earlier in the request.
        let resolve = |s: &str| match s.strip_prefix('#') {
            Some("k") => Some("M7".to_string()),
            Some(_) => None,
            None => Some(s.to_string()),
        };
        let parse = |v: Value| parse_create(resolve, v.as_object().unwrap());
        assert_eq!(
            parse(json!({"id": "M3", "mailboxIds": {"F2": true}})).unwrap(),
            CopyCreate { id: 3, folder: 2, keywords: None, received_at: None }
        );
        assert_eq!(
            parse(json!({"id": "#k", "mailboxIds": {"F2": true}, "keywords": {"$Seen": true},
                               "receivedAt": "2026-11-02T08:15:00Z"}))
            .unwrap(),
            CopyCreate { id: 7, folder: 2, keywords: Some(vec!["$seen".into()]), received_at: Some(1793607300) }
        );
        let kind = |v: Value| parse(v).unwrap_err()["type"].as_str().unwrap().to_string();
        assert_eq!(kind(json!({"id": "M3", "mailboxIds": {"F2": true, "F4": true}})), "tooManyMailboxes");
        assert_eq!(kind(json!({"id": "M3", "mailboxIds": {}})), "invalidProperties");
        assert_eq!(kind(json!({"id": "M3"})), "invalidProperties");
        assert_eq!(kind(json!({"mailboxIds": {"F2": true}})), "invalidProperties");
        assert_eq!(kind(json!({"id": "F3", "mailboxIds": {"F2": true}})), "notFound");
        assert_eq!(kind(json!({"id": "M3", "mailboxIds": {"F2": true}, "subject": "x"})), "invalidProperties");
        assert_eq!(kind(json!({"id": "M3", "mailboxIds": {"F2": true}, "receivedAt": "gestern"})), "invalidProperties");
        assert_eq!(
            kind(json!({"id": "M3", "mailboxIds": {"F2": true}, "keywords": {"$seen": false}})),
            "invalidProperties"
        );
    }
}
