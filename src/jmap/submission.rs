//! EmailSubmission (RFC 8621 section 7) and VacationResponse (section 8).
//!
//! A submission hands the email's raw bytes to the outbound queue (`outbox::enqueue`, origin
//! Phone) and returns at once: the queue sends it when its transport's gate opens (for the
//! direct path, only while an office session is logged in). `undoStatus` and
//! `deliveryStatus` are read from the queue's state each time (`outbox::state`), so they
//! follow it, and a task beside the server logs each change of that state as an
//! EmailSubmission update (so `/changes` and push see it); cancelling (`undoStatus:
//! canceled`) works while the message still waits.
//! `onSuccessUpdateEmail` / `onSuccessDestroyEmail` run as one implicit `Email/set` whose
//! response follows the submission's, with the same call id. The VacationResponse singleton
//! is the mailbox's auto-reply settings (`autoreply::load_settings` / `save_settings`), so a
//! change from a phone is what `postbote autoreply explain` and the auto-responder see.

use serde_json::{Map, Value, json};

use super::api::{
    Ctx, MethodError, MethodResult, SetArgs, changes as type_changes, get_ids, get_properties, opt_str_list, set_args,
    with_states,
};
use super::{email, ids};
use crate::outbox::{EnqueueError, Origin, Outgoing};
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

fn parse_sub(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('S')?;
    if rest.is_empty() || rest.len() > 18 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

fn utc(t: i64) -> Value {
    chrono::DateTime::from_timestamp(t, 0).map_or(Value::Null, |d| json!(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// (undoStatus, delivered) for a queue state.
fn statuses(queue_state: Option<&str>) -> (&'static str, &'static str) {
    match queue_state {
        Some("queued" | "deferred") => ("pending", "queued"),
        Some("sending") => ("final", "queued"),
        Some("sent") => ("final", "yes"),
        Some("failed" | "expired") => ("final", "no"),
        Some("cancelled") => ("canceled", "no"),
        _ => ("final", "unknown"),
    }
}

pub fn submission_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?;
    let props = get_properties(&args, SUB_PROPS, SUB_PROPS)?;
    let states = ctx.states(&mailbox)?;
    let nums: Option<Vec<i64>> = want.as_ref().map(|w| w.iter().filter_map(|i| parse_sub(i)).collect());
    let rows = ctx.app.store.submissions().get(&mailbox, nums.as_deref())?;
    let mut list = Vec::new();
    for s in &rows {
        let q = crate::outbox::state(ctx.app, s.outbox_id)?;
        let (undo, delivered) = statuses(q.as_deref());
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
                "id" => json!(format!("S{}", s.id)),
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
        o.insert("id".into(), json!(format!("S{}", s.id)));
        list.push(Value::Object(o));
    }
    let not_found: Vec<String> = match &want {
        None => vec![],
        Some(w) => {
            w.iter().filter(|i| !parse_sub(i).is_some_and(|n| rows.iter().any(|r| r.id == n))).cloned().collect()
        }
    };
    Ok(json!({
        "accountId": account_id,
        "state": ids::state(&states.epoch, states.modseq(ObjType::EmailSubmission)),
        "list": list,
        "notFound": not_found,
    }))
}

pub fn submission_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    Ok(Value::Object(type_changes(ctx, &args, ObjType::EmailSubmission, |i| format!("S{i}"))?.0))
}

/// An address that may go into `MAIL FROM:<…>` or `RCPT TO:<…>`: one word with an `@`.
fn smtp_address_ok(a: &str) -> bool {
    a.contains('@') && super::body::one_line(a) && !a.contains(['<', '>', ' ', '\t'])
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
                return Err(
                    json!({"type": "invalidProperties", "properties": ["envelope"], "description": "mailFrom must be a plain address"}),
                );
            }
            let rcpts: Vec<String> = e["rcptTo"]
                .as_array()
                .ok_or_else(|| json!({"type": "invalidProperties", "properties": ["envelope"], "description": "rcptTo is required"}))?
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
    let identities = super::mail::identities(ctx, &mailbox);
    let (mut created, mut not_created) = (Map::new(), Map::new());
    // Creation id -> email id, for onSuccess* keyed by "#creationId".
    let mut succeeded: Vec<(String, String, String)> = Vec::new();
    for (cid, obj) in create {
        let o = obj.as_object().cloned().unwrap_or_default();
        let identity = o.get("identityId").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(ident) = identities.iter().find(|i| i["id"] == identity.as_str()) else {
            not_created.insert(
                cid,
                json!({"type": "invalidProperties", "properties": ["identityId"], "description": "no such identity"}),
            );
            continue;
        };
        let ident_email = ident["email"].as_str().unwrap_or_default().to_string();
        let email_ref = o.get("emailId").and_then(Value::as_str).unwrap_or_default();
        let Some(email_id) = ctx.resolve_id(email_ref).as_deref().and_then(ids::parse_email) else {
            not_created.insert(
                cid,
                json!({"type": "invalidProperties", "properties": ["emailId"], "description": "no such email"}),
            );
            continue;
        };
        let (rcpts, mut envelope) = match envelope_of(o.get("envelope"), &ident_email) {
            Ok(x) => x,
            Err(e) => {
                not_created.insert(cid, e);
                continue;
            }
        };
        let rows = ctx.app.store.emails().get(&mailbox, &[email_id])?;
        let (Some(row), Some(raw)) = (rows.first(), ctx.app.store.emails().raw(&mailbox, email_id)?) else {
            not_created.insert(
                cid,
                json!({"type": "invalidProperties", "properties": ["emailId"], "description": "no such email"}),
            );
            continue;
        };
        // The From must be the identity's address (RFC 8621 section 9.6).
        if !row.from.iter().any(|a| a.email.eq_ignore_ascii_case(&ident_email)) {
            not_created.insert(cid, json!({"type": "forbiddenFrom", "description": format!("the email's From is not the identity's address {ident_email}")}));
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
                not_created.insert(cid, json!({"type": "noRecipients"}));
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
                not_created.insert(cid, json!({"type": kind, "description": m}));
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
        let id = format!("S{sid}");
        ctx.created.insert(cid.clone(), id.clone());
        created.insert(cid.clone(), json!({"id": id, "threadId": ids::thread(row.thread_id), "sendAt": utc(crate::store::now()), "undoStatus": "pending"}));
        succeeded.push((cid, id, ids::email(email_id)));
    }
    let (mut updated, mut not_updated) = (Map::new(), Map::new());
    for (id, patch) in update {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(parse_sub) else {
            not_updated.insert(id, json!({"type": "notFound"}));
            continue;
        };
        let Some(sub) = ctx.app.store.submissions().get(&mailbox, Some(&[n]))?.into_iter().next() else {
            not_updated.insert(id, json!({"type": "notFound"}));
            continue;
        };
        let patch = patch.as_object().cloned().unwrap_or_default();
        if patch.len() != 1 || patch.get("undoStatus").and_then(Value::as_str) != Some("canceled") {
            not_updated.insert(
                id,
                json!({"type": "invalidProperties", "description": "only undoStatus: canceled can be set"}),
            );
            continue;
        }
        if crate::outbox::cancel(ctx.app, sub.outbox_id, "cancelled from a phone")? {
            ctx.app.store.submissions().touched(&mailbox, n)?;
            updated.insert(id, Value::Null);
        } else {
            not_updated.insert(
                id,
                json!({"type": "cannotUnsend", "description": "the message is already being sent or was sent"}),
            );
        }
    }
    let (mut destroyed, mut not_destroyed) = (Vec::new(), Map::new());
    for id in destroy {
        match ctx.resolve_id(&id).as_deref().and_then(parse_sub) {
            Some(n) if ctx.app.store.submissions().destroy(&mailbox, n)? => destroyed.push(json!(id)),
            _ => {
                not_destroyed.insert(id, json!({"type": "notFound"}));
            }
        }
    }
    let response = with_states(
        ctx,
        &account_id,
        &mailbox,
        &states,
        ObjType::EmailSubmission,
        json!({
            "created": created, "updated": updated, "destroyed": destroyed,
            "notCreated": not_created, "notUpdated": not_updated, "notDestroyed": not_destroyed,
        }),
    )?;

    // The implicit Email/set for the submissions that succeeded (RFC 8621 section 7.5).
    let on_update = args.get("onSuccessUpdateEmail").and_then(Value::as_object).cloned().unwrap_or_default();
    let on_destroy = opt_str_list(&args, "onSuccessDestroyEmail")?.unwrap_or_default();
    // A key is "#creationId" of a submission made here, or an existing submission id: the
    // email it sent.
    let target = |key: &str| -> Option<String> {
        if let Some(k) = key.strip_prefix('#') {
            return succeeded.iter().find(|(cid, _, _)| cid == k).map(|(_, _, email)| email.clone());
        }
        let n = parse_sub(key)?;
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
        let r = email::set(ctx, a);
        ctx.extra.push(match r {
            Ok(v) => ("Email/set".into(), v),
            Err(e) => ("error".into(), json!({"type": e.kind, "description": e.description})),
        });
    }
    Ok(response)
}

/// `EmailSubmission/query` over the account's submissions (few; filtered and sorted here).
pub fn submission_query(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let mut rows: Vec<(crate::store::submissions::Submission, &'static str)> = Vec::new();
    for s in ctx.app.store.submissions().get(&mailbox, None)? {
        let undo = statuses(crate::outbox::state(ctx.app, s.outbox_id)?.as_deref()).0;
        rows.push((s, undo));
    }
    super::api::check_sort_size(&args)?;
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        super::api::check_filter_size(f)?;
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
    let total = rows.len();
    let (start, limit) = super::api::query_window(&args, total)?;
    let mut out = json!({
        "accountId": account_id,
        "queryState": ids::state(&states.epoch, states.modseq(ObjType::EmailSubmission)),
        "canCalculateChanges": false,
        "position": start,
        "ids": rows.iter().skip(start).take(limit).map(|(s, _)| json!(format!("S{}", s.id))).collect::<Vec<_>>(),
    });
    if super::api::opt_bool(&args, "calculateTotal", false)? {
        out["total"] = json!(total);
    }
    Ok(out)
}

pub fn submission_query_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    ctx.account(&args)?;
    Err(MethodError::with(
        "cannotCalculateChanges",
        "EmailSubmission/query results are not tracked; run the query again",
    ))
}

/// How often the queue states of open submissions are compared with what was last seen.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Log an EmailSubmission update whenever the outbound queue moves a phone's message on
/// (queued -> sending -> sent, ...), so `EmailSubmission/changes` and push see it. Runs beside
/// the server; never inside a request.
pub async fn follow_queue(app: crate::app::App, token: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
        let app2 = app.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<(), crate::store::StoreError> {
            for (account, id, outbox_id, last) in app2.store.submissions().open()? {
                if let Some(now) = crate::outbox::state(&app2, outbox_id)?
                    && last.as_deref() != Some(now.as_str())
                {
                    app2.store.submissions().set_status(&account, id, &now)?;
                }
            }
            Ok(())
        })
        .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "jmap: following submission states failed; retrying"),
            Err(e) => tracing::warn!(error = %e, "jmap: following submission states failed; retrying"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// VacationResponse

const VAC_PROPS: &[&str] = &["id", "isEnabled", "fromDate", "toDate", "subject", "textBody", "htmlBody"];

fn vacation_json(s: &crate::autoreply::Settings, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!("singleton"),
            "isEnabled" => json!(s.is_enabled),
            "fromDate" => s.from_date.map_or(Value::Null, |d| json!(d.format("%Y-%m-%dT%H:%M:%SZ").to_string())),
            "toDate" => s.to_date.map_or(Value::Null, |d| json!(d.format("%Y-%m-%dT%H:%M:%SZ").to_string())),
            "subject" => json!(s.subject),
            "textBody" => json!(s.text_body),
            "htmlBody" => json!(s.html_body),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    o.insert("id".into(), json!("singleton"));
    Value::Object(o)
}

fn autoreply_err(e: crate::autoreply::AutoreplyError) -> MethodError {
    match e {
        crate::autoreply::AutoreplyError::Store(e) => e.into(),
        e => MethodError::server(e),
    }
}

pub fn vacation_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?;
    let props = get_properties(&args, VAC_PROPS, VAC_PROPS)?;
    let states = ctx.states(&mailbox)?;
    let s = crate::autoreply::load_settings(ctx.app, &mailbox).map_err(autoreply_err)?;
    let (list, not_found): (Vec<Value>, Vec<String>) = match want {
        None => (vec![vacation_json(&s, &props)], vec![]),
        Some(w) => {
            let (found, nf): (Vec<String>, Vec<String>) = w.into_iter().partition(|i| i == "singleton");
            (if found.is_empty() { vec![] } else { vec![vacation_json(&s, &props)] }, nf)
        }
    };
    Ok(
        json!({"accountId": account_id, "state": ids::state(&states.epoch, states.modseq(ObjType::VacationResponse)), "list": list, "notFound": not_found}),
    )
}

fn date(v: &Value, prop: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Value> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            chrono::DateTime::parse_from_rfc3339(s).map(|d| Some(d.with_timezone(&chrono::Utc))).map_err(
                |_| json!({"type": "invalidProperties", "properties": [prop], "description": "a UTCDate is expected"}),
            )
        }
        _ => Err(json!({"type": "invalidProperties", "properties": [prop]})),
    }
}

pub fn vacation_set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let SetArgs { create, update, destroy } = set_args(&args, &states, ObjType::VacationResponse)?;
    let mut not_created = Map::new();
    for (cid, _) in create {
        not_created.insert(cid, json!({"type": "singleton", "description": "there is exactly one VacationResponse"}));
    }
    let mut not_destroyed = Map::new();
    for id in destroy {
        not_destroyed.insert(id, json!({"type": "singleton", "description": "there is exactly one VacationResponse"}));
    }
    let (mut updated, mut not_updated) = (Map::new(), Map::new());
    for (id, patch) in update {
        if id != "singleton" {
            not_updated.insert(id, json!({"type": "notFound"}));
            continue;
        }
        let mut s = crate::autoreply::load_settings(ctx.app, &mailbox).map_err(autoreply_err)?;
        let patch = patch.as_object().cloned().unwrap_or_default();
        let mut bad = None;
        for (k, v) in &patch {
            let r: Result<(), Value> = match (k.as_str(), v) {
                ("isEnabled", Value::Bool(b)) => {
                    s.is_enabled = *b;
                    Ok(())
                }
                ("fromDate", v) => date(v, k).map(|d| s.from_date = d),
                ("toDate", v) => date(v, k).map(|d| s.to_date = d),
                // The subject becomes a header of every auto-reply: refused with a line break,
                // so it never reaches the renderer.
                ("subject", Value::String(t)) if !super::body::one_line(t) => Err(
                    json!({"type": "invalidProperties", "properties": ["subject"], "description": "the subject must be one line"}),
                ),
                ("subject", Value::Null | Value::String(_)) => {
                    s.subject = v.as_str().map(String::from);
                    Ok(())
                }
                ("textBody", Value::Null | Value::String(_)) => {
                    s.text_body = v.as_str().map(String::from);
                    Ok(())
                }
                ("htmlBody", Value::Null | Value::String(_)) => {
                    s.html_body = v.as_str().map(String::from);
                    Ok(())
                }
                _ => Err(json!({"type": "invalidProperties", "properties": [k]})),
            };
            if let Err(e) = r {
                bad = Some(e);
                break;
            }
        }
        if let Some(e) = bad {
            not_updated.insert(id, e);
            continue;
        }
        match crate::autoreply::save_settings(ctx.app, &mailbox, &s) {
            Ok(()) => {
                updated.insert(id, Value::Null);
            }
            Err(crate::autoreply::AutoreplyError::Invalid(e)) => {
                not_updated.insert(id, json!({"type": "invalidProperties", "description": e.0}));
            }
            Err(e) => return Err(autoreply_err(e)),
        }
    }
    with_states(
        ctx,
        &account_id,
        &mailbox,
        &states,
        ObjType::VacationResponse,
        json!({
            "created": {}, "updated": updated, "destroyed": [],
            "notCreated": not_created, "notUpdated": not_updated, "notDestroyed": not_destroyed,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_and_delivery_follow_the_queue_state() {
        assert_eq!(statuses(Some("queued")), ("pending", "queued"));
        assert_eq!(statuses(Some("deferred")), ("pending", "queued"));
        assert_eq!(statuses(Some("sending")), ("final", "queued"));
        assert_eq!(statuses(Some("sent")), ("final", "yes"));
        assert_eq!(statuses(Some("failed")), ("final", "no"));
        assert_eq!(statuses(Some("cancelled")), ("canceled", "no"));
        assert_eq!(statuses(Some("unknown")), ("final", "unknown"));
        assert_eq!(statuses(None), ("final", "unknown"));
    }
}
