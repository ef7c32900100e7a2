//! `Email/query` and `Email/queryChanges` (RFC 8621 sections 4.4 and 4.5).
//!
//! `queryState` is the Email state; `Email/queryChanges` re-runs the query and reports the
//! mutable-filter answer of RFC 8620 section 5.6 (`method::query_changes`): removed = every email that changed (updated
//! or destroyed), added = those of them, and the new ones, now in the results, with their
//! index. Where an email's place depends on the other emails of its thread (`collapseThreads`
//! keeps the first of each thread; the thread-keyword filters and sorts look at the whole
//! thread), every email of a thread that had a change counts as changed, so the old
//! representative of a thread that got a new message is removed and the new one added
//! (the RFC allows removing ids that were not in the old results). `upToId` is ignored, as the
//! RFC allows: keywords and mailboxes are mutable.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::jmap::filter::parse_filter;
use crate::jmap::method::{
    self, Ctx, MethodError, MethodResult, Requery, check_filter_size, check_sort_size, opt_bool, opt_int, opt_str,
};
use crate::jmap::{ids, limits};
use crate::store::ObjType;
use crate::store::email_query::EmailFilter;
use crate::store::email_query::EmailSortKey;

/// A comparator's `keyword` (required by the keyword sorts).
fn sort_keyword(c: &Value) -> Result<String, MethodError> {
    match c.get("keyword").and_then(Value::as_str) {
        Some(k) if !k.is_empty() => Ok(k.to_string()),
        _ => Err(MethodError::invalid("a keyword sort needs a \"keyword\"")),
    }
}

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
                Some("hasKeyword") => EmailSortKey::HasKeyword(sort_keyword(c)?),
                Some("someInThreadHaveKeyword") => EmailSortKey::SomeInThreadHaveKeyword(sort_keyword(c)?),
                Some("allInThreadHaveKeyword") => EmailSortKey::AllInThreadHaveKeyword(sort_keyword(c)?),
                Some(p) => return Err(MethodError::with("unsupportedSort", format!("cannot sort by {p}"))),
                None => return Err(MethodError::invalid("a sort comparator needs a property")),
            };
            // The one collation the session lists (RFC 8620 section 5.5: any other is
            // unsupportedSort); text sorts compare ASCII letters without case.
            match c.get("collation") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s == "i;ascii-casemap" => {}
                Some(other) => {
                    return Err(MethodError::with("unsupportedSort", format!("collation {other} is not supported")));
                }
            }
            Ok((key, c.get("isAscending").and_then(Value::as_bool).unwrap_or(true)))
        })
        .collect()
}

/// A query's filter, sort and `collapseThreads`, read from its arguments.
struct Query {
    filter: EmailFilter,
    sort: Vec<(EmailSortKey, bool)>,
    collapse: bool,
}

impl Query {
    fn parse(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Query, MethodError> {
        let filter = match args.get("filter").filter(|f| !f.is_null()) {
            Some(f) => parse_filter(ctx, f)?,
            None => EmailFilter::And(vec![]),
        };
        Ok(Query { filter, sort: parse_sort(args)?, collapse: opt_bool(args, "collapseThreads", false)? })
    }

    /// Whether an email's place in the results can change when another email of its thread
    /// changes.
    fn looks_at_thread(&self) -> bool {
        self.collapse || self.filter.looks_at_thread() || self.sort.iter().any(|(k, _)| k.looks_at_thread())
    }

    /// The full sorted result (collapsed to the first email of each thread if asked).
    fn run(&self, ctx: &Ctx<'_>, mailbox: &str) -> Result<Vec<i64>, MethodError> {
        let rows = ctx.app.store.emails().query(mailbox, &self.filter, &self.sort)?;
        if self.collapse {
            let mut seen = HashSet::new();
            Ok(rows.into_iter().filter(|(_, t)| seen.insert(*t)).map(|(id, _)| id).collect())
        } else {
            Ok(rows.into_iter().map(|(id, _)| id).collect())
        }
    }
}

pub fn query(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let results = Query::parse(ctx, &args)?.run(ctx, &mailbox)?;
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
        "canCalculateChanges": true,
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
    ctx.account(&args)?;
    // Limits first, whatever the state: an oversized filter is refused as such.
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        check_filter_size(f)?;
    }
    check_sort_size(&args)?;
    let query = Query::parse(ctx, &args)?;
    method::query_changes(ctx, &args, ObjType::Email, "Email/query", ids::email, |ctx, mailbox, since_m, c| {
        let also_changed = if query.looks_at_thread() && c.new_modseq > since_m {
            ctx.app
                .store
                .emails()
                .in_changed_threads(mailbox, since_m, c.new_modseq)?
                .ok_or_else(|| method::cannot_calculate("Email/query"))?
        } else {
            Vec::new()
        };
        Ok(Requery { results: query.run(ctx, mailbox)?, also_changed, ignore_updates: false })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jmap::method::changes_lists;
    use crate::jmap::method::tests::apply;

    /// (id, thread, received, has the keyword), newest first when collapsed like a phone asks.
    type Mail = (i64, i64, i64, bool);

    /// The model of a query: emails sorted by received (descending), optionally only those
    /// whose thread has the keyword somewhere, optionally collapsed to one per thread.
    fn model(mails: &[Mail], collapse: bool, some_in_thread: bool) -> Vec<i64> {
        let mut m: Vec<Mail> =
            mails.iter().copied().filter(|x| !some_in_thread || mails.iter().any(|y| y.1 == x.1 && y.3)).collect();
        m.sort_by(|a, b| b.2.cmp(&a.2).then(b.0.cmp(&a.0)));
        let mut seen = HashSet::new();
        m.into_iter().filter(|x| !collapse || seen.insert(x.1)).map(|x| x.0).collect()
    }

    /// What the server reports between two states of the mailbox: the changed emails and the
    /// emails of their threads now.
    fn check(before: &[Mail], after: &[Mail], collapse: bool, some_in_thread: bool) {
        let ids = |l: &[Mail]| l.iter().map(|m| m.0).collect::<HashSet<_>>();
        let (b, a) = (ids(before), ids(after));
        let created: Vec<i64> = a.difference(&b).copied().collect();
        let destroyed: Vec<i64> = b.difference(&a).copied().collect();
        let updated: Vec<i64> =
            after.iter().filter(|m| before.iter().any(|o| o.0 == m.0 && o != *m)).map(|m| m.0).collect();
        let threads: HashSet<i64> = before
            .iter()
            .chain(after)
            .filter(|m| created.contains(&m.0) || destroyed.contains(&m.0) || updated.contains(&m.0))
            .map(|m| m.1)
            .collect();
        let mates: Vec<i64> = after.iter().filter(|m| threads.contains(&m.1)).map(|m| m.0).collect();
        let old = model(before, collapse, some_in_thread);
        let new = model(after, collapse, some_in_thread);
        let (removed, added) = changes_lists(&new, &created, &updated, &destroyed, &mates);
        assert_eq!(apply(&old, &removed, &added), new, "old {old:?} removed {removed:?} added {added:?}");
        // Without the thread's emails the collapsed answer would be wrong in these cases.
        let (removed, added) = changes_lists(&new, &created, &updated, &destroyed, &[]);
        if collapse || some_in_thread {
            assert_ne!(apply(&old, &removed, &added), new, "the case must need the thread's emails");
        }
    }

    #[test]
    fn a_new_message_in_a_thread_replaces_its_representative() {
        // Threads 1 (emails 1, 2) and 2 (email 3); email 4 arrives in thread 1, newest.
        let before = [(1, 1, 10, false), (2, 1, 20, false), (3, 2, 15, false)];
        let after = [(1, 1, 10, false), (2, 1, 20, false), (3, 2, 15, false), (4, 1, 30, false)];
        check(&before, &after, true, false);
    }

    #[test]
    fn destroying_the_representative_brings_the_next_of_its_thread() {
        let before = [(1, 1, 10, false), (2, 1, 20, false), (3, 2, 15, false)];
        let after = [(1, 1, 10, false), (3, 2, 15, false)];
        check(&before, &after, true, false);
    }

    #[test]
    fn a_keyword_on_one_email_moves_its_whole_thread_into_a_thread_keyword_filter() {
        let before = [(1, 1, 10, false), (2, 1, 20, false), (3, 2, 15, true)];
        let after = [(1, 1, 10, true), (2, 1, 20, false), (3, 2, 15, true)];
        check(&before, &after, false, true);
        check(&before, &after, true, true);
    }

    #[test]
    fn keyword_sorts_need_their_keyword_and_only_the_listed_collation_is_taken() {
        let sort = |v: Value| {
            let mut m = Map::new();
            m.insert("sort".into(), v);
            parse_sort(&m)
        };
        assert_eq!(
            sort(json!([{"property": "hasKeyword", "keyword": "$seen", "isAscending": false}])).unwrap(),
            [(EmailSortKey::HasKeyword("$seen".into()), false)]
        );
        assert_eq!(sort(json!([{"property": "allInThreadHaveKeyword"}])).unwrap_err().kind, "invalidArguments");
        assert!(sort(json!([{"property": "subject", "collation": "i;ascii-casemap"}])).is_ok());
        assert_eq!(
            sort(json!([{"property": "subject", "collation": "i;unicode-casemap"}])).unwrap_err().kind,
            "unsupportedSort"
        );
        assert_eq!(sort(json!([{"property": "keywords"}])).unwrap_err().kind, "unsupportedSort");
    }

    #[test]
    fn unchanged_results_report_nothing_and_new_ones_are_added() {
        let r = changes_lists(&[5, 3, 1], &[5], &[], &[], &[]);
        assert_eq!(r, (vec![], vec![(5, 0)]));
        assert_eq!(changes_lists(&[3, 1], &[], &[], &[], &[]), (vec![], vec![]));
        // A destroyed email is removed, never added.
        assert_eq!(changes_lists(&[3], &[], &[], &[1], &[]), (vec![1], vec![]));
    }
}
