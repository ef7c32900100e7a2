//! EmailSubmission (RFC 8621 section 7).
//!
//! A submission hands the email's raw bytes to the outbound queue (`outbox::enqueue`, origin
//! Phone) and returns at once: the queue sends it when its transport's gate opens (for the
//! direct path, only while an office session is logged in). `undoStatus` and
//! `deliveryStatus` are read from the queue's state each time (`outbox::state`), so they
//! follow it, and every change of that state is logged as an EmailSubmission update in the
//! queue's own transaction (`store::outbox::follow`), so `/changes`, `/queryChanges` and push see
//! it at once;
//! cancelling (`undoStatus: canceled`) works while the message still waits.
//! `onSuccessUpdateEmail` / `onSuccessDestroyEmail` become one implicit `Email/set` that the
//! dispatcher runs right after (`Ctx::then`), answered under the same call id.

use serde_json::{Map, Value, json};

use super::method::{
    Ctx, MethodError, MethodResult, Requery, changes as type_changes, check_filter_size, check_sort_size, get_ids,
    get_properties, invalid_property, opt_bool, opt_str_list, query_changes, query_window, utc,
};
use super::set::{SetArgs, SetResponse, set_args};
use super::{body, ids};
use crate::outbox::{EnqueueError, Origin, Outgoing, State};
use crate::store::ObjType;

const SUB_PROPS: &[&str] = &[
    "id",
    "identityId",
    "emailId",
    "threadId",
    "envelope",
    "sendAt",
    "undoStatus",
    "deliveryStatus",
    "dsnBlobIds",
    "mdnBlobIds",
];

/// (undoStatus, delivered) for a queue state.
fn statuses(queue_state: Option<State>) -> (&'static str, &'static str) {
    match queue_state {
        Some(State::Queued | State::Deferred) => ("pending", "queued"),
        Some(State::Sending) => ("final", "queued"),
        Some(State::Sent) => ("final", "yes"),
        Some(State::Failed | State::Expired) => ("final", "no"),
        Some(State::Cancelled) => ("canceled", "no"),
        Some(State::Unknown) | None => ("final", "unknown"),
    }
}

pub fn submission_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?;
    let props = get_properties(&args, SUB_PROPS, SUB_PROPS)?;
    let states = ctx.states(&mailbox)?;
    let nums: Option<Vec<i64>> = want.as_ref().map(|w| w.iter().filter_map(|i| ids::parse_submission(i)).collect());
    let rows = ctx.app.store.submissions().get(&mailbox, nums.as_deref())?;
    let mut list = Vec::new();
    for s in &rows {
        let q = crate::outbox::state(ctx.app, s.outbox_id)?;
        let (undo, delivered) = statuses(q);
        let envelope: Value = serde_json::from_str(&s.envelope).unwrap_or(Value::Null);
        let delivery: Map<String, Value> = envelope["rcptTo"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x["email"].as_str())
                    .map(|e| (e.to_string(), json!({"smtpReply": if delivered == "yes" { "250 OK" } else { "" }, "delivered": delivered, "displayed": "unknown"})))
                    .collect()
            })
            .unwrap_or_default();
        let mut o = Map::new();
        for p in &props {
            let v = match p.as_str() {
                "id" => json!(ids::submission(s.id)),
                "identityId" => json!(s.identity),
                "emailId" => json!(ids::email(s.email_id)),
                "threadId" => json!(ids::thread(s.thread_id)),
                "envelope" => envelope.clone(),
                "sendAt" => utc(s.send_at),
                "undoStatus" => json!(undo),
                "deliveryStatus" => Value::Object(delivery.clone()),
                "dsnBlobIds" | "mdnBlobIds" => json!([]),
                _ => continue,
            };
            o.insert(p.clone(), v);
        }
        o.insert("id".into(), json!(ids::submission(s.id)));
        list.push(Value::Object(o));
    }
    let not_found: Vec<String> = match &want {
        None => vec![],
        Some(w) => w
            .iter()
            .filter(|i| !ids::parse_submission(i).is_some_and(|n| rows.iter().any(|r| r.id == n)))
            .cloned()
            .collect(),
    };
    Ok(json!({
        "accountId": account_id,
        "state": ids::state(&states.epoch, states.modseq(ObjType::EmailSubmission)),
        "list": list,
        "notFound": not_found,
    }))
}

pub fn submission_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    Ok(Value::Object(type_changes(ctx, &args, ObjType::EmailSubmission, ids::submission)?.0))
}

/// An address that may go into `MAIL FROM:<…>` or `RCPT TO:<…>`: one word with an `@`.
fn smtp_address_ok(a: &str) -> bool {
    a.contains('@') && body::one_line(a) && !a.contains(['<', '>', ' ', '\t'])
}

/// The envelope of a submission: the client's `rcptTo` (each address checked, since it becomes
/// an SMTP command), and always the identity's address as `mailFrom`; a `mailFrom` the client
/// gives must be a plain address too, or the whole envelope is refused.
fn envelope_of(v: Option<&Value>, identity_email: &str) -> Result<(Option<Vec<String>>, Value), Value> {
    match v {
        None | Some(Value::Null) => Ok((None, Value::Null)),
        Some(e) => {
            if let Some(from) = e.get("mailFrom").filter(|f| !f.is_null())
                && !from["email"].as_str().is_some_and(smtp_address_ok)
            {
                return Err(invalid_property("envelope", "mailFrom must be a plain address"));
            }
            let rcpts: Vec<String> = e["rcptTo"]
                .as_array()
                .ok_or_else(|| invalid_property("envelope", "rcptTo is required"))?
                .iter()
                .filter_map(|r| r["email"].as_str().map(String::from))
                .collect();
            if rcpts.is_empty() {
                return Err(json!({"type": "noRecipients"}));
            }
            if let Some(bad) = rcpts.iter().find(|r| !smtp_address_ok(r)) {
                return Err(json!({"type": "invalidRecipients", "invalidRecipients": [bad]}));
            }
            let env = json!({"mailFrom": {"email": identity_email, "parameters": null},
                             "rcptTo": rcpts.iter().map(|r| json!({"email": r, "parameters": null})).collect::<Vec<_>>()});
            Ok((Some(rcpts), env))
        }
    }
}

pub fn submission_set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let SetArgs { create, update, destroy } = set_args(&args, &states, ObjType::EmailSubmission)?;
    let identities = ctx.identities(&mailbox);
    let mut resp = SetResponse::default();
    // Creation id -> email id, for onSuccess* keyed by "#creationId".
    let mut succeeded: Vec<(String, String, String)> = Vec::new();
    for (cid, obj) in create {
        let o = obj.as_object().cloned().unwrap_or_default();
        let identity = o.get("identityId").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(ident) = identities.iter().find(|i| i["id"] == identity.as_str()) else {
            resp.not_created(cid, invalid_property("identityId", "no such identity"));
            continue;
        };
        let ident_email = ident["email"].as_str().unwrap_or_default().to_string();
        let email_ref = o.get("emailId").and_then(Value::as_str).unwrap_or_default();
        let Some(email_id) = ctx.resolve_id(email_ref).as_deref().and_then(ids::parse_email) else {
            resp.not_created(cid, invalid_property("emailId", "no such email"));
            continue;
        };
        let (rcpts, mut envelope) = match envelope_of(o.get("envelope"), &ident_email) {
            Ok(x) => x,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        let rows = ctx.app.store.emails().get(&mailbox, &[email_id])?;
        let (Some(row), Some(raw)) = (rows.first(), ctx.app.store.emails().raw(&mailbox, email_id)?) else {
            resp.not_created(cid, invalid_property("emailId", "no such email"));
            continue;
        };
        // The From must be the identity's address (RFC 8621 section 9.6).
        if !row.from.iter().any(|a| a.email.eq_ignore_ascii_case(&ident_email)) {
            resp.not_created(cid, json!({"type": "forbiddenFrom", "description": format!("the email's From is not the identity's address {ident_email}")}));
            continue;
        }
        if envelope.is_null() {
            let all: Vec<Value> = row
                .to
                .iter()
                .chain(&row.cc)
                .chain(&row.bcc)
                .map(|a| json!({"email": a.email, "parameters": null}))
                .collect();
            if all.is_empty() {
                resp.not_created(cid, json!({"type": "noRecipients"}));
                continue;
            }
            envelope = json!({"mailFrom": {"email": ident_email, "parameters": null}, "rcptTo": all});
        }
        let queued = crate::outbox::enqueue(
            ctx.app,
            Outgoing { mailbox: mailbox.clone(), raw, recipients: rcpts, origin: Origin::Phone, discard_after: None },
        );
        let q = match queued {
            Ok(q) => q,
            Err(EnqueueError::Refused(m)) => {
                let kind = if m.contains("From") {
                    "forbiddenFrom"
                } else if m.to_lowercase().contains("recipient") {
                    "noRecipients"
                } else {
                    "forbiddenToSend"
                };
                resp.not_created(cid, json!({"type": kind, "description": m}));
                continue;
            }
            Err(EnqueueError::Store(e)) => return Err(e.into()),
        };
        tracing::info!(mailbox, device = ctx.authed.device, outbox_id = q.id, "jmap: a phone submitted a message");
        let sid = ctx.app.store.submissions().add(
            &mailbox,
            email_id,
            row.thread_id,
            &identity,
            q.id,
            &envelope.to_string(),
        )?;
        let id = ids::submission(sid);
        ctx.created.insert(cid.clone(), id.clone());
        resp.created(cid.clone(), json!({"id": id, "threadId": ids::thread(row.thread_id), "sendAt": utc(crate::store::now()), "undoStatus": "pending"}));
        succeeded.push((cid, id, ids::email(email_id)));
    }
    for (id, patch) in update {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(ids::parse_submission) else {
            resp.not_updated(id, json!({"type": "notFound"}));
            continue;
        };
        let Some(sub) = ctx.app.store.submissions().get(&mailbox, Some(&[n]))?.into_iter().next() else {
            resp.not_updated(id, json!({"type": "notFound"}));
            continue;
        };
        let patch = patch.as_object().cloned().unwrap_or_default();
        if patch.len() != 1 || patch.get("undoStatus").and_then(Value::as_str) != Some("canceled") {
            resp.not_updated(
                id,
                json!({"type": "invalidProperties", "description": "only undoStatus: canceled can be set"}),
            );
            continue;
        }
        if crate::outbox::cancel(ctx.app, sub.outbox_id, "cancelled from a phone")? {
            resp.updated(id);
        } else {
            resp.not_updated(
                id,
                json!({"type": "cannotUnsend", "description": "the message is already being sent or was sent"}),
            );
        }
    }
    for id in destroy {
        match ctx.resolve_id(&id).as_deref().and_then(ids::parse_submission) {
            Some(n) if ctx.app.store.submissions().destroy(&mailbox, n)? => resp.destroyed(id),
            _ => {
                resp.not_destroyed(id, json!({"type": "notFound"}));
            }
        }
    }
    let response = resp.finish(ctx, &account_id, &mailbox, &states, ObjType::EmailSubmission)?;

    // The implicit Email/set for the submissions that succeeded (RFC 8621 section 7.5).
    let on_update = args.get("onSuccessUpdateEmail").and_then(Value::as_object).cloned().unwrap_or_default();
    let on_destroy = opt_str_list(&args, "onSuccessDestroyEmail")?.unwrap_or_default();
    // A key is "#creationId" of a submission made here, or an existing submission id: the
    // email it sent.
    let target = |key: &str| -> Option<String> {
        if let Some(k) = key.strip_prefix('#') {
            return succeeded.iter().find(|(cid, _, _)| cid == k).map(|(_, _, email)| email.clone());
        }
        let n = ids::parse_submission(key)?;
        let sub = ctx.app.store.submissions().get(&mailbox, Some(&[n])).ok()?.into_iter().next()?;
        Some(ids::email(sub.email_id))
    };
    let mut upd = Map::new();
    for (k, patch) in on_update {
        if let Some(e) = target(&k) {
            upd.insert(e, patch);
        }
    }
    let des: Vec<Value> = on_destroy.iter().filter_map(|k| target(k)).map(Value::String).collect();
    if !upd.is_empty() || !des.is_empty() {
        let mut a = Map::new();
        a.insert("accountId".into(), json!(account_id));
        a.insert("update".into(), Value::Object(upd));
        a.insert("destroy".into(), Value::Array(des));
        ctx.then.push(("Email/set", a));
    }
    Ok(response)
}

/// The ids of the account's submissions that `args`' filter keeps, in its sort order (few;
/// filtered and sorted here). Every filter and sort reads only the submission itself and its
/// queue state, whose every change is logged as an update of the submission.
fn submission_results(ctx: &Ctx<'_>, args: &Map<String, Value>, mailbox: &str) -> Result<Vec<i64>, MethodError> {
    let mut rows: Vec<(crate::store::submissions::Submission, &'static str)> = Vec::new();
    for s in ctx.app.store.submissions().get(mailbox, None)? {
        let undo = statuses(crate::outbox::state(ctx.app, s.outbox_id)?).0;
        rows.push((s, undo));
    }
    check_sort_size(args)?;
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        check_filter_size(f)?;
        let f = f.as_object().ok_or_else(|| MethodError::invalid("filter must be an object"))?;
        let list = |v: &Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
        };
        let time =
            |v: &Value| v.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|d| d.timestamp());
        for (k, v) in f {
            match k.as_str() {
                "identityIds" => {
                    let l = list(v);
                    rows.retain(|(s, _)| l.contains(&s.identity))
                }
                "emailIds" => {
                    let l = list(v);
                    rows.retain(|(s, _)| l.contains(&ids::email(s.email_id)))
                }
                "threadIds" => {
                    let l = list(v);
                    rows.retain(|(s, _)| l.contains(&ids::thread(s.thread_id)))
                }
                "undoStatus" => {
                    let u = v.as_str().unwrap_or_default().to_string();
                    rows.retain(|(_, x)| *x == u)
                }
                "before" => {
                    let t = time(v).ok_or_else(|| MethodError::invalid("before must be a UTCDate"))?;
                    rows.retain(|(s, _)| s.send_at < t)
                }
                "after" => {
                    let t = time(v).ok_or_else(|| MethodError::invalid("after must be a UTCDate"))?;
                    rows.retain(|(s, _)| s.send_at >= t)
                }
                other => {
                    return Err(MethodError::with("unsupportedFilter", format!("filter \"{other}\" is not supported")));
                }
            }
        }
    }
    if let Some(Value::Array(sort)) = args.get("sort") {
        for c in sort.iter().rev() {
            let asc = c.get("isAscending").and_then(Value::as_bool).unwrap_or(true);
            match c.get("property").and_then(Value::as_str) {
                Some("emailId") => rows.sort_by_key(|(s, _)| s.email_id),
                Some("threadId") => rows.sort_by_key(|(s, _)| s.thread_id),
                Some("sentAt") => rows.sort_by_key(|(s, _)| s.send_at),
                _ => return Err(MethodError::new("unsupportedSort")),
            }
            if !asc {
                rows.reverse();
            }
        }
    }
    Ok(rows.into_iter().map(|(s, _)| s.id).collect())
}

/// `EmailSubmission/query`; its `queryState` is the EmailSubmission state.
pub fn submission_query(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let results = submission_results(ctx, &args, &mailbox)?;
    let total = results.len();
    let (start, limit) = query_window(&args, total)?;
    let mut out = json!({
        "accountId": account_id,
        "queryState": ids::state(&states.epoch, states.modseq(ObjType::EmailSubmission)),
        "canCalculateChanges": true,
        "position": start,
        "ids": results.iter().skip(start).take(limit).map(|id| json!(ids::submission(*id))).collect::<Vec<_>>(),
    });
    if opt_bool(&args, "calculateTotal", false)? {
        out["total"] = json!(total);
    }
    Ok(out)
}

/// `EmailSubmission/queryChanges` (RFC 8620 section 5.6) from the EmailSubmission change
/// log: every filter and sort reads only the submission, so the changed ones are exactly
/// those that may move.
pub fn submission_query_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    ctx.account(&args)?;
    check_sort_size(&args)?;
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        check_filter_size(f)?;
    }
    let query = "EmailSubmission/query";
    query_changes(ctx, &args, ObjType::EmailSubmission, query, ids::submission, |ctx, mailbox, _, _| {
        Ok(Requery {
            results: submission_results(ctx, &args, mailbox)?,
            also_changed: Vec::new(),
            ignore_updates: false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_and_delivery_follow_the_queue_state() {
        assert_eq!(statuses(Some(State::Queued)), ("pending", "queued"));
        assert_eq!(statuses(Some(State::Deferred)), ("pending", "queued"));
        assert_eq!(statuses(Some(State::Sending)), ("final", "queued"));
        assert_eq!(statuses(Some(State::Sent)), ("final", "yes"));
        assert_eq!(statuses(Some(State::Failed)), ("final", "no"));
        assert_eq!(statuses(Some(State::Cancelled)), ("canceled", "no"));
        assert_eq!(statuses(Some(State::Unknown)), ("final", "unknown"));
        assert_eq!(statuses(None), ("final", "unknown"));
    }
}
