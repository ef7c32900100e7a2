//! Mailbox methods (RFC 8621 section 2).
//!
//! A Mailbox is a mirrored IMAP folder. Its `parentId` and `name` come from the full IMAP
//! name and the server's hierarchy delimiter ([`super::tree`]): `Kunden/Meier` is `Meier`
//! below `Kunden` when `Kunden` is mirrored too. `Mailbox/set` changes the store at once and
//! queues CREATE / RENAME / DELETE for IMAP (a RENAME carries the children along), and
//! SUBSCRIBE / UNSUBSCRIBE for `isSubscribed`. `sortOrder` is kept in the store only (IMAP has
//! no order of folders); without one a mailbox sorts by its role.

use serde_json::{Map, Value, json};

use super::ids;
use super::method::{
    Ctx, MethodError, MethodResult, changes, check_filter_size, check_sort_size, get_ids, get_properties,
    invalid_property, opt_bool, query_window,
};
use super::set::{SetArgs, SetResponse, set_args, set_error};
use super::tree::{Node, Tree};
use crate::store::ObjType;
use crate::store::mailboxes::MailboxRow;

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

/// The phone's sortOrder, or the default by role.
fn effective_order(m: &MailboxRow) -> i64 {
    m.sort_order.unwrap_or_else(|| sort_order(m.role.as_deref()))
}

/// `isSubscribed` and `sortOrder` of a create or update, checked: (isSubscribed, sortOrder).
#[allow(clippy::type_complexity)]
fn subscription_and_order(obj: &Map<String, Value>) -> Result<(Option<bool>, Option<i64>), Value> {
    let subscribed = match obj.get("isSubscribed") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid_property("isSubscribed", "isSubscribed must be true or false")),
    };
    let order = match obj.get("sortOrder") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(n) if (0..=u32::MAX as i64).contains(&n) => Some(n),
            _ => return Err(invalid_property("sortOrder", "sortOrder must be a number from 0 to 2^32-1")),
        },
    };
    Ok((subscribed, order))
}

/// The account's mailbox tree, from the live folders and the delimiter.
fn tree_of(ctx: &Ctx<'_>, mailbox: &str) -> Result<Tree, MethodError> {
    let folders = ctx.app.store.folders().all(mailbox)?;
    let delimiter = ctx.app.store.folders().delimiter(mailbox)?;
    Ok(Tree::new(folders.iter().map(|f| (f.id, f.name.as_str())), delimiter.as_deref()))
}

fn tree_of_rows(rows: &[MailboxRow], delimiter: Option<&str>) -> Tree {
    Tree::new(rows.iter().map(|m| (m.id, m.name.as_str())), delimiter)
}

fn node_of(tree: &Tree, m: &MailboxRow) -> Node {
    tree.get(m.id).cloned().unwrap_or(Node { parent: None, name: m.name.clone(), full: m.name.clone() })
}

fn mailbox_json(m: &MailboxRow, tree: &Tree, props: &[String]) -> Value {
    let inbox = m.role.as_deref() == Some("inbox");
    let node = node_of(tree, m);
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(ids::mailbox(m.id)),
            "name" => json!(node.name),
            "parentId" => json!(node.parent.map(ids::mailbox)),
            "role" => json!(m.role),
            "sortOrder" => json!(effective_order(m)),
            "totalEmails" => json!(m.total),
            "unreadEmails" => json!(m.unread),
            "totalThreads" => json!(m.total_threads),
            "unreadThreads" => json!(m.unread_threads),
            "myRights" => json!({
                "mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true, "maySetSeen": true, "maySetKeywords": true,
                "mayCreateChild": tree.delimiter.is_some(), "mayRename": !inbox, "mayDelete": !inbox, "maySubmit": true,
            }),
            "isSubscribed" => json!(m.subscribed),
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
    let rows = ctx.app.store.mailboxes().all(&mailbox)?;
    let tree = tree_of_rows(&rows, ctx.app.store.folders().delimiter(&mailbox)?.as_deref());
    let (list, not_found) = match ids {
        None => (rows.iter().map(|m| mailbox_json(m, &tree, &props)).collect::<Vec<_>>(), vec![]),
        Some(want) => {
            let mut list = Vec::new();
            let mut nf = Vec::new();
            for id in want {
                match ids::parse_mailbox(&id).and_then(|n| rows.iter().find(|m| m.id == n)) {
                    Some(m) => list.push(mailbox_json(m, &tree, &props)),
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
    let mut rows = ctx.app.store.mailboxes().all(&mailbox)?;
    let tree = tree_of_rows(&rows, ctx.app.store.folders().delimiter(&mailbox)?.as_deref());
    let short = |m: &MailboxRow| node_of(&tree, m).name;
    let parent = |m: &MailboxRow| node_of(&tree, m).parent;
    check_sort_size(&args)?;
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        check_filter_size(f)?;
        let f = f.as_object().ok_or_else(|| MethodError::invalid("filter must be an object"))?;
        for (k, v) in f {
            match (k.as_str(), v) {
                ("parentId", Value::Null) => rows.retain(|m| parent(m).is_none()),
                ("parentId", Value::String(p)) => {
                    let p = ids::parse_mailbox(p);
                    rows.retain(|m| p.is_some() && parent(m) == p)
                }
                ("name", Value::String(s)) => rows.retain(|m| short(m).to_lowercase().contains(&s.to_lowercase())),
                ("role", Value::Null) => rows.retain(|m| m.role.is_none()),
                ("role", Value::String(s)) => rows.retain(|m| m.role.as_deref() == Some(s.as_str())),
                ("hasAnyRole", Value::Bool(b)) => rows.retain(|m| m.role.is_some() == *b),
                ("isSubscribed", Value::Bool(b)) => rows.retain(|m| m.subscribed == *b),
                _ => return Err(MethodError::with("unsupportedFilter", format!("filter \"{k}\" is not supported"))),
            }
        }
        // filterAsTree: a mailbox counts only if its ancestors matched too.
        if opt_bool(&args, "filterAsTree", false)? {
            let matched: std::collections::HashSet<i64> = rows.iter().map(|m| m.id).collect();
            rows.retain(|m| {
                let mut up = parent(m);
                while let Some(p) = up {
                    if !matched.contains(&p) {
                        return false;
                    }
                    up = tree.get(p).and_then(|n| n.parent);
                }
                true
            });
        }
    }
    if let Some(Value::Array(sort)) = args.get("sort") {
        for s in sort.iter().rev() {
            let asc = s.get("isAscending").and_then(Value::as_bool).unwrap_or(true);
            match s.get("property").and_then(Value::as_str) {
                Some("sortOrder") => rows.sort_by_key(effective_order),
                Some("name") => rows.sort_by_key(|m| short(m).to_lowercase()),
                _ => return Err(MethodError::new("unsupportedSort")),
            }
            if !asc {
                rows.reverse();
            }
        }
    }
    let mut order: Vec<i64> = rows.iter().map(|m| m.id).collect();
    if opt_bool(&args, "sortAsTree", false)? {
        order = tree.tree_order(&order);
    }
    let total = order.len();
    let (start, limit) = query_window(&args, total)?;
    let ids: Vec<Value> = order.iter().skip(start).take(limit).map(|id| json!(ids::mailbox(*id))).collect();
    let mut out = json!({
        "accountId": account_id,
        "queryState": ids::state(&states.epoch, states.modseq(ObjType::Mailbox)),
        "canCalculateChanges": true,
        "position": start,
        "ids": ids,
    });
    if opt_bool(&args, "calculateTotal", false)? {
        out["total"] = json!(total);
    }
    Ok(out)
}

/// `Mailbox/queryChanges` (RFC 8620 section 5.6), from the Mailbox change log: it runs
/// `Mailbox/query` itself over the whole result, so the two cannot disagree. A change of
/// counts alone moves no mailbox (no filter or sort reads them). A mailbox's `name` and
/// `parentId` depend on which of its ancestors are mirrored, but the store logs the folders
/// below one that came, went or was renamed as updated, so those filters and the name sort
/// get exact changes. `filterAsTree` and `sortAsTree` also place a mailbox by its ancestors'
/// other properties (role, sort order), which the log does not carry down: with either, a
/// change other than counts makes every result count as changed (the whole list again,
/// still correct) rather than `cannotCalculateChanges`.
pub fn mailbox_query_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    use super::method::{Requery, cannot_calculate, query_changes};
    ctx.account(&args)?;
    check_sort_size(&args)?;
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        check_filter_size(f)?;
    }
    let as_tree = opt_bool(&args, "filterAsTree", false)? || opt_bool(&args, "sortAsTree", false)?;
    let mut whole = args.clone();
    whole.insert("position".into(), json!(0));
    whole.insert("limit".into(), json!(super::limits::MAX_QUERY_LIMIT));
    whole.insert("calculateTotal".into(), json!(true));
    query_changes(ctx, &args, ObjType::Mailbox, "Mailbox/query", ids::mailbox, |ctx, _, _, c| {
        let r = mailbox_query(ctx, whole)?;
        let results: Vec<i64> =
            r["ids"].as_array().into_iter().flatten().filter_map(|i| i.as_str().and_then(ids::parse_mailbox)).collect();
        if r["total"].as_u64() != Some(results.len() as u64) {
            return Err(cannot_calculate("Mailbox/query"));
        }
        let moved = !c.created.is_empty() || !c.destroyed.is_empty() || !c.counts_only;
        let also_changed = if as_tree && moved { results.clone() } else { Vec::new() };
        Ok(Requery { results, also_changed, ignore_updates: c.counts_only })
    })
}

fn mailbox_name(v: Option<&Value>) -> Result<String, Value> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 && !s.contains(['\r', '\n', '*', '%']) => {
            Ok(s.trim().to_string())
        }
        _ => Err(invalid_property("name", "a name of 1 to 200 characters without * % or line breaks is required")),
    }
}

/// The creations in an order where each comes after the one its `parentId` names by creation
/// id (RFC 8620 section 5.3: creations are processed so that references resolve), otherwise
/// in request order. A reference to a creation id not in the request, or a cycle, is left to
/// fail on its own.
fn creation_order(create: Map<String, Value>) -> Vec<(String, Value)> {
    let mut rest: Vec<(String, Value)> = create.into_iter().collect();
    let mut out = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let waits_for_another = |o: &Value| {
            o.get("parentId")
                .and_then(Value::as_str)
                .and_then(|p| p.strip_prefix('#'))
                .is_some_and(|r| rest.iter().any(|(k, _)| k == r))
        };
        let next = rest.iter().position(|(_, o)| !waits_for_another(o)).unwrap_or(0);
        out.push(rest.remove(next));
    }
    out
}

/// The `parentId` of a create or update: null, a mailbox of the tree, or a creation reference.
fn parent_id(ctx: &Ctx<'_>, tree: &Tree, v: Option<&Value>) -> Result<Option<i64>, Value> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => ctx
            .resolve_id(s)
            .as_deref()
            .and_then(ids::parse_mailbox)
            .filter(|p| tree.get(*p).is_some())
            .map(Some)
            .ok_or_else(|| invalid_property("parentId", "no such parent mailbox")),
        Some(_) => Err(invalid_property("parentId", "parentId must be a mailbox id or null")),
    }
}

pub fn mailbox_set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let SetArgs { create, update, destroy } = set_args(&args, &states, ObjType::Mailbox)?;
    let remove_emails = opt_bool(&args, "onDestroyRemoveEmails", false)?;
    let store = &ctx.app.store;
    let mut resp = SetResponse::default();
    for (cid, obj) in creation_order(create) {
        let obj = obj.as_object().cloned().unwrap_or_default();
        if let Some(bad) =
            obj.keys().find(|k| !matches!(k.as_str(), "name" | "parentId" | "isSubscribed" | "sortOrder" | "role"))
        {
            resp.not_created(cid, json!({"type": "invalidProperties", "properties": [bad]}));
            continue;
        }
        if obj.get("role").is_some_and(|p| !p.is_null()) {
            resp.not_created(cid, invalid_property("role", "roles come from the IMAP server"));
            continue;
        }
        let name = match mailbox_name(obj.get("name")) {
            Ok(n) => n,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        let (subscribed, order) = match subscription_and_order(&obj) {
            Ok(x) => x,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        // A mailbox made on the phone is subscribed unless it says otherwise, so webmail and
        // the office program list it too.
        let subscribed = subscribed.unwrap_or(true);
        // Read again for every creation: an earlier one of this request may be the parent.
        let tree = tree_of(ctx, &mailbox)?;
        let full = parent_id(ctx, &tree, obj.get("parentId")).and_then(|parent| {
            tree.full_name(parent, &name).map(|f| (parent, f)).map_err(|(p, d)| invalid_property(p, d))
        });
        let (parent, full) = match full {
            Ok(x) => x,
            Err(e) => {
                resp.not_created(cid, e);
                continue;
            }
        };
        match store.mailboxes().create_with(&mailbox, &full, subscribed, order)? {
            Ok(id) => {
                ctx.created.insert(cid.clone(), ids::mailbox(id));
                resp.created(cid, json!({"id": ids::mailbox(id), "parentId": parent.map(ids::mailbox), "role": null,
                    "sortOrder": order.unwrap_or_else(|| sort_order(None)), "totalEmails": 0, "unreadEmails": 0,
                    "totalThreads": 0, "unreadThreads": 0, "isSubscribed": subscribed,
                    "myRights": {"mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true, "maySetSeen": true, "maySetKeywords": true,
                        "mayCreateChild": tree.delimiter.is_some(), "mayRename": true, "mayDelete": true, "maySubmit": true}}));
            }
            Err(f) => {
                resp.not_created(cid, set_error(f));
            }
        }
    }
    for (id, patch) in update {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(ids::parse_mailbox) else {
            resp.not_updated(id, json!({"type": "notFound"}));
            continue;
        };
        let patch = patch.as_object().cloned().unwrap_or_default();
        if let Some(bad) =
            patch.keys().find(|k| !matches!(k.as_str(), "name" | "parentId" | "isSubscribed" | "sortOrder"))
        {
            resp.not_updated(id, json!({"type": "invalidProperties", "properties": [bad]}));
            continue;
        }
        let (subscribed, order) = match subscription_and_order(&patch) {
            Ok(x) => x,
            Err(e) => {
                resp.not_updated(id, e);
                continue;
            }
        };
        let tree = tree_of(ctx, &mailbox)?;
        let Some(node) = tree.get(n).cloned() else {
            resp.not_updated(id, json!({"type": "notFound"}));
            continue;
        };
        let name = match patch.get("name") {
            None => node.name.clone(),
            Some(v) => match mailbox_name(Some(v)) {
                Ok(name) => name,
                Err(e) => {
                    resp.not_updated(id, e);
                    continue;
                }
            },
        };
        let parent = match patch.get("parentId") {
            None => Ok(node.parent),
            Some(v) => parent_id(ctx, &tree, Some(v)),
        };
        let full = parent.and_then(|parent| match parent {
            Some(p) if tree.is_within(p, n) => Err(invalid_property("parentId", "a mailbox cannot move below itself")),
            _ if name == node.name && parent == node.parent => Ok(node.full.clone()),
            // Moved with its name unchanged: a mailbox at the top whose parent is not
            // mirrored shows its full name; it moves as its last level.
            _ if name == node.name => {
                let last = tree.delimiter.as_deref().and_then(|d| node.full.rsplit(d).next()).unwrap_or(&name);
                tree.full_name(parent, last).map_err(|(p, d)| invalid_property(p, d))
            }
            _ => tree.full_name(parent, &name).map_err(|(p, d)| invalid_property(p, d)),
        });
        let mut r = match full {
            Ok(full) if full == node.full => Ok(()),
            Ok(full) => store.mailboxes().rename(&mailbox, n, &full)?,
            Err(e) => {
                resp.not_updated(id, e);
                continue;
            }
        };
        // Each is applied (and queued for the server where IMAP has it) before it is
        // answered `updated`.
        if let (Ok(()), Some(on)) = (&r, subscribed) {
            r = store.mailboxes().set_subscribed(&mailbox, n, on)?;
        }
        if let (Ok(()), Some(order)) = (&r, order) {
            r = store.mailboxes().set_sort_order(&mailbox, n, order)?;
        }
        match r {
            Ok(()) => {
                resp.updated(id);
            }
            Err(f) => {
                resp.not_updated(id, set_error(f));
            }
        }
    }
    for id in destroy {
        let Some(n) = ctx.resolve_id(&id).as_deref().and_then(ids::parse_mailbox) else {
            resp.not_destroyed(id, json!({"type": "notFound"}));
            continue;
        };
        match store.mailboxes().destroy(&mailbox, n, remove_emails)? {
            Ok(()) => resp.destroyed(id),
            Err(f) => {
                resp.not_destroyed(id, set_error(f));
            }
        }
    }
    resp.written_back(ctx, &account_id, &mailbox, &states, ObjType::Mailbox)
}
