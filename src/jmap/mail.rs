//! Mailbox, Thread and Identity methods (RFC 8621 sections 2, 3 and 6).
//!
//! A Mailbox is a mirrored IMAP folder; names are the full IMAP names and there is no
//! hierarchy (`parentId` is always null, `maxMailboxDepth` 1). `Mailbox/set` changes the store
//! at once and queues CREATE / RENAME / DELETE for IMAP. Identities are the mailbox's company
//! addresses from the config (read-only here); their state is a hash of that list.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::api::{
    Ctx, MethodError, MethodResult, SetArgs, changes, get_ids, get_properties, opt_bool, opt_str, set_args, with_states,
};
use super::ids;
use crate::store::ObjType;
use crate::store::jmap::{MailboxRow, SetFailure};

const MAILBOX_PROPS: &[&str] = &[
    "id",
    "name",
    "parentId",
    "role",
    "sortOrder",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
    "isSubscribed",
];

fn sort_order(role: Option<&str>) -> i64 {
    match role {
        Some("inbox") => 1,
        Some("drafts") => 2,
        Some("sent") => 3,
        Some("archive") => 4,
        Some("junk") => 5,
        Some("trash") => 6,
        _ => 10,
    }
}

fn mailbox_json(m: &MailboxRow, props: &[String]) -> Value {
    let inbox = m.role.as_deref() == Some("inbox");
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(ids::mailbox(m.id)),
            "name" => json!(m.name),
            "parentId" => Value::Null,
            "role" => json!(m.role),
            "sortOrder" => json!(sort_order(m.role.as_deref())),
            "totalEmails" => json!(m.total),
            "unreadEmails" => json!(m.unread),
            "totalThreads" => json!(m.total_threads),
            "unreadThreads" => json!(m.unread_threads),
            "myRights" => json!({
                "mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true, "maySetSeen": true, "maySetKeywords": true,
                "mayCreateChild": false, "mayRename": !inbox, "mayDelete": !inbox, "maySubmit": true,
            }),
            "isSubscribed" => json!(true),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    o.insert("id".into(), json!(ids::mailbox(m.id)));
    Value::Object(o)
}

pub fn mailbox_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let ids = get_ids(ctx, &args)?;
    let props = get_properties(&args, MAILBOX_PROPS, MAILBOX_PROPS)?;
    let states = ctx.states(&mailbox)?;
    let rows = ctx.app.store.jmap_mailboxes(&mailbox)?;
    let (list, not_found) = match ids {
        None => (rows.iter().map(|m| mailbox_json(m, &props)).collect::<Vec<_>>(), vec![]),
        Some(want) => {
            let mut list = Vec::new();
            let mut nf = Vec::new();
            for id in want {
                match ids::parse_mailbox(&id).and_then(|n| rows.iter().find(|m| m.id == n)) {
                    Some(m) => list.push(mailbox_json(m, &props)),
                    None => nf.push(id),
                }
            }
            (list, nf)
        }
    };
    Ok(json!({
        "accountId": account_id,
        "state": ids::state(&states.epoch, states.modseq(ObjType::Mailbox)),
        "list": list,
        "notFound": not_found,
    }))
}

pub fn mailbox_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (mut out, c) = changes(ctx, &args, ObjType::Mailbox, ids::mailbox)?;
    let updated_props = if !c.updated.is_empty() && c.counts_only {
        json!(["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"])
    } else {
        Value::Null
    };
    out.insert("updatedProperties".into(), updated_props);
    Ok(Value::Object(out))
}

pub fn mailbox_query(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let mut rows = ctx.app.store.jmap_mailboxes(&mailbox)?;
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        let f = f.as_object().ok_or_else(|| MethodError::invalid("filter must be an object"))?;
        for (k, v) in f {
            match (k.as_str(), v) {
                ("parentId", Value::Null) => {}
                ("parentId", _) => rows.clear(),
                ("name", Value::String(s)) => rows.retain(|m| m.name.to_lowercase().contains(&s.to_lowercase())),
                ("role", Value::Null) => rows.retain(|m| m.role.is_none()),
                ("role", Value::String(s)) => rows.retain(|m| m.role.as_deref() == Some(s.as_str())),
                ("hasAnyRole", Value::Bool(b)) => rows.retain(|m| m.role.is_some() == *b),
                ("isSubscribed", Value::Bool(b)) => {
                    if !b {
                        rows.clear()
                    }
                }
                _ => return Err(MethodError::with("unsupportedFilter", format!("filter \"{k}\" is not supported"))),
            }
        }
    }
    if let Some(Value::Array(sort)) = args.get("sort") {
        for s in sort.iter().rev() {
            let asc = s.get("isAscending").and_then(Value::as_bool).unwrap_or(true);
            match s.get("property").and_then(Value::as_str) {
                Some("sortOrder") => rows.sort_by_key(|m| sort_order(m.role.as_deref())),
                Some("name") => rows.sort_by_key(|m| m.name.to_lowercase()),
                _ => return Err(MethodError::new("unsupportedSort")),
            }
            if !asc {
                rows.reverse();
            }
        }
    }
    let total = rows.len();
    let (start, limit) = super::api::query_window(&args, total)?;
    let ids: Vec<Value> = rows.iter().skip(start).take(limit).map(|m| json!(ids::mailbox(m.id))).collect();
    let mut out = json!({
        "accountId": account_id,
        "queryState": ids::state(&states.epoch, states.modseq(ObjType::Mailbox)),
        "canCalculateChanges": false,
        "position": start,
        "ids": ids,
    });
    if opt_bool(&args, "calculateTotal", false)? {
        out["total"] = json!(total);
    }
    Ok(out)
}

pub fn mailbox_query_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    ctx.account(&args)?;
    Err(MethodError::with("cannotCalculateChanges", "Mailbox/query results are not tracked; run Mailbox/query again"))
}

/// A /set failure as its JMAP SetError object.
pub fn set_error(f: SetFailure) -> Value {
    match f {
        SetFailure::NotFound => json!({"type": "notFound"}),
        SetFailure::Invalid(p, d) => json!({"type": "invalidProperties", "properties": [p], "description": d}),
        SetFailure::MailboxHasEmail => {
            json!({"type": "mailboxHasEmail", "description": "the mailbox still holds emails (set onDestroyRemoveEmails to remove them)"})
        }
        SetFailure::Forbidden(d) => json!({"type": "forbidden", "description": d}),
        SetFailure::AlreadyExists(d) => json!({"type": "invalidProperties", "properties": ["name"], "description": d}),
    }
}

fn mailbox_name(v: Option<&Value>) -> Result<String, Value> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 && !s.contains(['\r', '\n', '*', '%']) => {
            Ok(s.trim().to_string())
        }
        _ => Err(
            json!({"type": "invalidProperties", "properties": ["name"], "description": "a name of 1 to 200 characters without * % or line breaks is required"}),
        ),
    }
}

pub fn mailbox_set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let SetArgs { create, update, destroy } = set_args(&args, &states, ObjType::Mailbox)?;
    let remove_emails = opt_bool(&args, "onDestroyRemoveEmails", false)?;
    let store = &ctx.app.store;
    let (mut created, mut not_created, mut updated, mut not_updated, mut destroyed, mut not_destroyed) =
        (Map::new(), Map::new(), Map::new(), Map::new(), Vec::new(), Map::new());
    for (cid, obj) in create {
        let obj = obj.as_object().cloned().unwrap_or_default();
        if let Some(bad) =
            obj.keys().find(|k| !matches!(k.as_str(), "name" | "parentId" | "isSubscribed" | "sortOrder" | "role"))
        {
            not_created.insert(cid, json!({"type": "invalidProperties", "properties": [bad]}));
            continue;
        }
        if obj.get("parentId").is_some_and(|p| !p.is_null()) {
            not_created.insert(cid, json!({"type": "invalidProperties", "properties": ["parentId"], "description": "mailboxes are not nested here"}));
            continue;
        }
        if obj.get("role").is_some_and(|p| !p.is_null()) {
            not_created.insert(cid, json!({"type": "invalidProperties", "properties": ["role"], "description": "roles come from the IMAP server"}));
            continue;
        }
        let name = match mailbox_name(obj.get("name")) {
            Ok(n) => n,
            Err(e) => {
                not_created.insert(cid, e);
                continue;
            }
        };
        match store.jmap_mailbox_create(&mailbox, &name)? {
            Ok(id) => {
                ctx.created.insert(cid.clone(), ids::mailbox(id));
                created.insert(cid, json!({"id": ids::mailbox(id), "parentId": null, "role": null, "sortOrder": 10, "totalEmails": 0, "unreadEmails": 0,
                    "totalThreads": 0, "unreadThreads": 0, "isSubscribed": true}));
            }
            Err(f) => {
                not_created.insert(cid, set_error(f));
            }
        }
    }
    for (id, patch) in update {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(ids::parse_mailbox) else {
            not_updated.insert(id, json!({"type": "notFound"}));
            continue;
        };
        let patch = patch.as_object().cloned().unwrap_or_default();
        if let Some(bad) =
            patch.keys().find(|k| !matches!(k.as_str(), "name" | "parentId" | "isSubscribed" | "sortOrder"))
        {
            not_updated.insert(id, json!({"type": "invalidProperties", "properties": [bad]}));
            continue;
        }
        if patch.get("parentId").is_some_and(|p| !p.is_null()) {
            not_updated.insert(id, json!({"type": "invalidProperties", "properties": ["parentId"], "description": "mailboxes are not nested here"}));
            continue;
        }
        let r = match patch.get("name") {
            None => {
                if store.jmap_mailboxes(&mailbox)?.iter().any(|m| m.id == n) {
                    Ok(())
                } else {
                    Err(SetFailure::NotFound)
                }
            }
            Some(v) => match mailbox_name(Some(v)) {
                Ok(name) => store.jmap_mailbox_rename(&mailbox, n, &name)?,
                Err(e) => {
                    not_updated.insert(id, e);
                    continue;
                }
            },
        };
        match r {
            Ok(()) => {
                updated.insert(id, Value::Null);
            }
            Err(f) => {
                not_updated.insert(id, set_error(f));
            }
        }
    }
    for id in destroy {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(ids::parse_mailbox) else {
            not_destroyed.insert(id, json!({"type": "notFound"}));
            continue;
        };
        match store.jmap_mailbox_destroy(&mailbox, n, remove_emails)? {
            Ok(()) => destroyed.push(id),
            Err(f) => {
                not_destroyed.insert(id, set_error(f));
            }
        }
    }
    if !created.is_empty() || !updated.is_empty() || !destroyed.is_empty() {
        ctx.app.writeback_wake.notify_one();
    }
    with_states(
        ctx,
        &account_id,
        &mailbox,
        &states,
        ObjType::Mailbox,
        json!({
            "created": created, "updated": updated, "destroyed": destroyed,
            "notCreated": not_created, "notUpdated": not_updated, "notDestroyed": not_destroyed,
        }),
    )
}

pub fn thread_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?.ok_or_else(|| MethodError::with("requestTooLarge", "Thread/get needs ids"))?;
    get_properties(&args, &["id", "emailIds"], &["id", "emailIds"])?;
    let states = ctx.states(&mailbox)?;
    let nums: Vec<i64> = want.iter().filter_map(|i| ids::parse_thread(i)).collect();
    let threads = ctx.app.store.jmap_threads(&mailbox, &nums)?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in want {
        match ids::parse_thread(&id).and_then(|n| threads.get(&n)) {
            Some(emails) => {
                list.push(json!({"id": id, "emailIds": emails.iter().map(|e| ids::email(*e)).collect::<Vec<_>>()}))
            }
            None => not_found.push(id),
        }
    }
    Ok(json!({
        "accountId": account_id,
        "state": ids::state(&states.epoch, states.modseq(ObjType::Thread)),
        "list": list,
        "notFound": not_found,
    }))
}

pub fn thread_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    Ok(Value::Object(changes(ctx, &args, ObjType::Thread, ids::thread)?.0))
}

/// One identity per company address of the mailbox, in config order.
pub(super) fn identities(ctx: &Ctx<'_>, mailbox: &str) -> Vec<Value> {
    let Some(m) = ctx.app.config.mailbox(mailbox) else { return vec![] };
    m.addresses
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({"id": format!("I{i}"), "name": m.name, "email": a, "replyTo": null, "bcc": null,
                   "textSignature": "", "htmlSignature": "", "mayDelete": false})
        })
        .collect()
}

fn identity_state(ctx: &Ctx<'_>, mailbox: &str) -> String {
    let mut h = Sha256::new();
    for i in identities(ctx, mailbox) {
        h.update(i.to_string());
    }
    format!("i{}", hex::encode(&h.finalize()[..8]))
}

pub fn identity_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let ids = get_ids(ctx, &args)?;
    let props = get_properties(
        &args,
        &["id", "name", "email", "replyTo", "bcc", "textSignature", "htmlSignature", "mayDelete"],
        &["id", "name", "email", "replyTo", "bcc", "textSignature", "htmlSignature", "mayDelete"],
    )?;
    let all = identities(ctx, &mailbox);
    let pick = |v: &Value| {
        let mut o = Map::new();
        for p in &props {
            o.insert(p.clone(), v[p.as_str()].clone());
        }
        o.insert("id".into(), v["id"].clone());
        Value::Object(o)
    };
    let (list, not_found): (Vec<Value>, Vec<String>) = match ids {
        None => (all.iter().map(pick).collect(), vec![]),
        Some(want) => {
            let mut l = Vec::new();
            let mut nf = Vec::new();
            for id in want {
                match all.iter().find(|i| i["id"] == id.as_str()) {
                    Some(i) => l.push(pick(i)),
                    None => nf.push(id),
                }
            }
            (l, nf)
        }
    };
    Ok(json!({"accountId": account_id, "state": identity_state(ctx, &mailbox), "list": list, "notFound": not_found}))
}

pub fn identity_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let since = opt_str(&args, "sinceState")?.ok_or_else(|| MethodError::invalid("sinceState is required"))?;
    let now = identity_state(ctx, &mailbox);
    if since != now {
        return Err(MethodError::with(
            "cannotCalculateChanges",
            "identities come from the configuration; fetch them again",
        ));
    }
    Ok(json!({"accountId": account_id, "oldState": since, "newState": now, "hasMoreChanges": false,
              "created": [], "updated": [], "destroyed": []}))
}
