//! `Email/query` and `Email/queryChanges` (RFC 8621 sections 4.4 and 4.5).
//!
//! `queryState` is the Email state; `Email/queryChanges` re-runs the query and reports the
//! mutable-filter answer (removed = updated or destroyed, added = those of them now in the
//! results); with `collapseThreads` it says `cannotCalculateChanges`.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::jmap::filter::parse_filter;
use crate::jmap::method::{
    Ctx, MethodError, MethodResult, check_filter_size, check_sort_size, opt_bool, opt_int, opt_str,
};
use crate::jmap::{ids, limits};
use crate::store::ObjType;
use crate::store::email_query::EmailFilter;
use crate::store::email_query::EmailSortKey;

fn parse_sort(args: &Map<String, Value>) -> Result<Vec<(EmailSortKey, bool)>, MethodError> {
    let Some(sort) = args.get("sort").filter(|s| !s.is_null()) else {
        return Ok(vec![(EmailSortKey::ReceivedAt, false)]);
    };
    let sort = sort.as_array().ok_or_else(|| MethodError::invalid("sort must be a list"))?;
    check_sort_size(args)?;
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
        check_filter_size(f)?;
    }
    check_sort_size(&args)?;
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
