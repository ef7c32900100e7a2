//! The method toolkit: what every JMAP method shares, at the bottom of request handling.
//!
//! [`Ctx`] is one request's context (the app, the device, creation ids, calls a method asks
//! to run after it); [`MethodError`] is a method-level error (`["error", …]`, never an HTTP
//! error); the argument helpers read and check a call's arguments against the documented
//! limits before any store work. A method that fails leaves the store unchanged. The /set
//! side (`SetArgs`, the one `SetResponse` builder) is in `set`, the Email filter in `filter`.
//! This file imports no method file, no dispatcher and no HTTP.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::device::Authed;
use super::{body, ids, limits};
use crate::app::App;
use crate::store::ObjType;
use crate::store::changes::AccountStates;
use crate::store::changes::ChangesError;

/// A method-level error (`["error", {type, description}, callId]`).
#[derive(Debug, Clone, PartialEq)]
pub struct MethodError {
    pub kind: &'static str,
    pub description: Option<String>,
    pub extra: Map<String, Value>,
}

impl MethodError {
    pub fn new(kind: &'static str) -> Self {
        MethodError { kind, description: None, extra: Map::new() }
    }
    pub fn with(kind: &'static str, description: impl Into<String>) -> Self {
        MethodError { kind, description: Some(description.into()), extra: Map::new() }
    }
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::with("invalidArguments", description)
    }
    pub fn server(e: impl std::fmt::Display) -> Self {
        Self::with("serverFail", e.to_string())
    }
    /// The error object of an `["error", …]` response.
    pub fn to_json(&self) -> Value {
        let mut m = self.extra.clone();
        m.insert("type".into(), Value::String(self.kind.into()));
        if let Some(d) = &self.description {
            m.insert("description".into(), Value::String(d.clone()));
        }
        Value::Object(m)
    }
}

impl From<crate::store::StoreError> for MethodError {
    /// The store's own text (SQLite's) stays in the log: a client learns only that the server
    /// failed. Input a client controls is checked against the documented limits before it
    /// reaches the store, so this is never the answer to a request that was too large.
    fn from(e: crate::store::StoreError) -> Self {
        tracing::warn!(error = %e, "jmap: store error in a method");
        MethodError::server("the server's store failed; the details are in its log")
    }
}
pub type MethodResult = Result<Value, MethodError>;

/// What one request's methods share.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub authed: &'a Authed,
    /// Creation id -> server id, for `#creationId` references.
    pub created: HashMap<String, String>,
    /// Calls a method asks the dispatcher to run right after it, answered under the same call
    /// id (the implicit `Email/set` of a submission, RFC 8621 section 7.5).
    pub then: Vec<(&'static str, Map<String, Value>)>,
}

impl Ctx<'_> {
    /// The mailbox behind `accountId`, if this device may use it.
    pub fn account(&self, args: &Map<String, Value>) -> Result<(String, String), MethodError> {
        let id = match args.get("accountId") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(MethodError::invalid("accountId is required")),
        };
        match self.authed.mailbox(&id) {
            Some(m) => Ok((id, m.to_string())),
            None => Err(MethodError::with("accountNotFound", format!("no account \"{id}\" for this device"))),
        }
    }

    pub fn states(&self, mailbox: &str) -> Result<AccountStates, MethodError> {
        self.app
            .store
            .changes()
            .states(mailbox)?
            .ok_or_else(|| MethodError::server(format!("account {mailbox} is not in the store")))
    }

    /// An id argument, with `#creationId` resolved.
    pub fn resolve_id(&self, s: &str) -> Option<String> {
        match s.strip_prefix('#') {
            Some(c) => self.created.get(c).cloned(),
            None => Some(s.to_string()),
        }
    }

    /// The bytes of a blob `mailbox` may read, by JMAP blob id (an upload, a stored message, or
    /// one part of an email).
    pub fn blob(&self, mailbox: &str, blob_id: &str) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        read_blob(self.app, mailbox, blob_id)
    }

    /// The mailbox's identities, one per company address of the config, in config order. Shared
    /// by Identity (which shows them) and EmailSubmission (which sends only as one of them).
    pub fn identities(&self, mailbox: &str) -> Vec<Value> {
        let Some(m) = self.app.config.mailbox(mailbox) else { return vec![] };
        m.addresses
            .iter()
            .enumerate()
            .map(|(i, a)| {
                json!({"id": format!("I{i}"), "name": m.name, "email": a, "replyTo": null, "bcc": null,
                       "textSignature": "", "htmlSignature": "", "mayDelete": false})
            })
            .collect()
    }
}

/// The bytes of a blob `mailbox` may read, by JMAP blob id; for the download route too.
pub fn read_blob(app: &App, mailbox: &str, blob_id: &str) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
    match ids::parse_blob(blob_id) {
        Some(ids::BlobRef::Stored(id)) => app.store.blobs().get(mailbox, id),
        Some(ids::BlobRef::Part { email, part }) => {
            let Some(raw) = app.store.emails().raw(mailbox, email)? else { return Ok(None) };
            Ok(mail_parser::MessageParser::default().parse(&raw).and_then(|m| body::part_bytes(&m, part)))
        }
        None => Ok(None),
    }
}

/// A UTCDate (RFC 8620 section 1.4) from a Unix time, or null.
pub fn utc(t: i64) -> Value {
    chrono::DateTime::from_timestamp(t, 0).map_or(Value::Null, |d| json!(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// Check a `/query` filter against the documented limits before it is parsed: at most
/// `MAX_FILTER_CONDITIONS` conditions and operators, nested at most `MAX_FILTER_DEPTH` deep.
pub fn check_filter_size(filter: &Value) -> Result<(), MethodError> {
    fn walk(v: &Value, depth: usize, nodes: &mut usize, deepest: &mut usize) {
        *deepest = (*deepest).max(depth);
        let Some(o) = v.as_object() else { return };
        match o.get("conditions").and_then(Value::as_array).filter(|_| o.contains_key("operator")) {
            Some(list) => {
                *nodes += 1;
                for c in list {
                    if *nodes > limits::MAX_FILTER_CONDITIONS || *deepest > limits::MAX_FILTER_DEPTH {
                        return;
                    }
                    walk(c, depth + 1, nodes, deepest);
                }
            }
            None => *nodes += o.len(),
        }
    }
    let (mut nodes, mut deepest) = (0, 0);
    walk(filter, 0, &mut nodes, &mut deepest);
    if deepest > limits::MAX_FILTER_DEPTH {
        return Err(MethodError::with(
            "unsupportedFilter",
            format!("filter operators are nested more than {} deep", limits::MAX_FILTER_DEPTH),
        ));
    }
    if nodes > limits::MAX_FILTER_CONDITIONS {
        return Err(MethodError::with(
            "unsupportedFilter",
            format!("the filter has more than {} conditions and operators", limits::MAX_FILTER_CONDITIONS),
        ));
    }
    Ok(())
}

/// A `/query` sort must be a list of at most `MAX_SORT_COMPARATORS` comparators.
pub fn check_sort_size(args: &Map<String, Value>) -> Result<(), MethodError> {
    match args.get("sort") {
        Some(Value::Array(a)) if a.len() > limits::MAX_SORT_COMPARATORS => Err(MethodError::with(
            "unsupportedSort",
            format!("{} sort comparators; at most {} are supported", a.len(), limits::MAX_SORT_COMPARATORS),
        )),
        _ => Ok(()),
    }
}

/// The window of a /query over `total` results: `position` (negative counts from the end) and
/// `limit`, capped at the server's maximum. Returns (start, limit).
pub fn query_window(args: &Map<String, Value>, total: usize) -> Result<(usize, usize), MethodError> {
    let position = opt_int(args, "position")?.unwrap_or(0);
    let start = if position < 0 {
        total.saturating_sub(position.unsigned_abs() as usize)
    } else {
        (position as usize).min(total)
    };
    let limit = opt_int(args, "limit")?
        .map(|l| l.max(0) as usize)
        .unwrap_or(limits::MAX_QUERY_LIMIT)
        .min(limits::MAX_QUERY_LIMIT);
    Ok((start, limit))
}

// ---------------------------------------------------------------------------------------------
// SetErrors shared by the methods

/// The `invalidProperties` SetError (RFC 8620 section 5.3) naming `props` (a property named
/// twice in a row once), with a description for the phone's developer.
pub fn invalid_properties<S: AsRef<str>>(props: &[S], description: impl AsRef<str>) -> Value {
    let mut list: Vec<&str> = props.iter().map(|p| p.as_ref()).collect();
    list.dedup();
    json!({"type": "invalidProperties", "properties": list, "description": description.as_ref()})
}

/// The `invalidProperties` SetError naming one property.
pub fn invalid_property(property: &str, description: impl AsRef<str>) -> Value {
    invalid_properties(&[property], description)
}

// ---------------------------------------------------------------------------------------------
// Argument helpers shared by the methods

pub fn opt_str<'a>(args: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MethodError::invalid(format!("{key} must be a string"))),
    }
}

pub fn opt_bool(args: &Map<String, Value>, key: &str, default: bool) -> Result<bool, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(MethodError::invalid(format!("{key} must be a boolean"))),
    }
}

pub fn opt_int(args: &Map<String, Value>, key: &str) -> Result<Option<i64>, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(_) => Err(MethodError::invalid(format!("{key} must be an integer"))),
    }
}

pub fn opt_str_list(args: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, MethodError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| MethodError::invalid(format!("{key} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(MethodError::invalid(format!("{key} must be an array of strings"))),
    }
}

/// `ids` of a `/get` (None = all), bounded by maxObjectsInGet, with creation ids resolved.
pub fn get_ids(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Option<Vec<String>>, MethodError> {
    let Some(ids) = opt_str_list(args, "ids")? else { return Ok(None) };
    if ids.len() > limits::MAX_OBJECTS_IN_GET {
        return Err(MethodError::with(
            "requestTooLarge",
            format!("{} ids; at most {} per call", ids.len(), limits::MAX_OBJECTS_IN_GET),
        ));
    }
    Ok(Some(ids.iter().map(|i| ctx.resolve_id(i).unwrap_or_else(|| i.clone())).collect()))
}

/// `properties` of a `/get`, checked against the known ones (unknown -> invalidArguments).
pub fn get_properties(args: &Map<String, Value>, known: &[&str], default: &[&str]) -> Result<Vec<String>, MethodError> {
    let props = opt_str_list(args, "properties")?.unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = props.iter().find(|p| !known.contains(&p.as_str())) {
        return Err(MethodError::invalid(format!("unknown property \"{bad}\"")));
    }
    Ok(props)
}

/// The common part of every `Foo/changes`: arguments, state check, the coalesced changes.
pub fn changes(
    ctx: &Ctx<'_>,
    args: &Map<String, Value>,
    ty: ObjType,
    encode: fn(i64) -> String,
) -> Result<(Map<String, Value>, crate::store::changes::Changes), MethodError> {
    let (account_id, mailbox) = ctx.account(args)?;
    let since = opt_str(args, "sinceState")?.ok_or_else(|| MethodError::invalid("sinceState is required"))?.to_string();
    let max = match opt_int(args, "maxChanges")? {
        None => limits::MAX_CHANGES,
        Some(n) if n > 0 => (n as usize).min(limits::MAX_CHANGES),
        Some(_) => return Err(MethodError::invalid("maxChanges must be a positive integer")),
    };
    let states = ctx.states(&mailbox)?;
    let cannot = || {
        MethodError::with(
            "cannotCalculateChanges",
            "the state is too old or from before a rebuild; fetch everything again",
        )
    };
    let since_m = ids::parse_state(&since, &states.epoch).ok_or_else(cannot)?;
    let c = match ctx.app.store.changes().since(&mailbox, ty, since_m, max)? {
        Ok(c) => c,
        Err(ChangesError::TooOld) => return Err(cannot()),
        Err(ChangesError::TooMany) => {
            return Err(MethodError::with(
                "cannotCalculateChanges",
                "one change alone exceeds maxChanges; fetch everything again",
            ));
        }
    };
    let mut out = Map::new();
    out.insert("accountId".into(), Value::String(account_id));
    out.insert("oldState".into(), Value::String(since));
    out.insert("newState".into(), Value::String(ids::state(&states.epoch, c.new_modseq)));
    out.insert("hasMoreChanges".into(), Value::Bool(c.has_more));
    let list = |v: &[i64]| Value::Array(v.iter().map(|i| Value::String(encode(*i))).collect());
    out.insert("created".into(), list(&c.created));
    out.insert("updated".into(), list(&c.updated));
    out.insert("destroyed".into(), list(&c.destroyed));
    Ok((out, c))
}

// ---------------------------------------------------------------------------------------------
// /queryChanges (RFC 8620 section 5.6), shared by every type whose query can calculate changes

/// What a /queryChanges learns by running its query again now.
pub struct Requery {
    /// The full sorted results now.
    pub results: Vec<i64>,
    /// Ids that count as changed beyond the logged ones, because their place in the results
    /// depends on a changed object (the emails of a thread that changed, every mailbox when
    /// the hierarchy changed under a query that looks at it).
    pub also_changed: Vec<i64>,
    /// The logged updates cannot move any result (a Mailbox's counts, which no Mailbox filter
    /// or sort reads), so they are not reported.
    pub ignore_updates: bool,
}

/// `cannotCalculateChanges` for a query state the change log cannot answer.
pub fn cannot_calculate(query: &str) -> MethodError {
    MethodError::with("cannotCalculateChanges", format!("the query state is too old; run {query} again"))
}

/// A whole /queryChanges for type `ty` whose query is `query` ("Email/query"): reads
/// `sinceQueryState` (required) and `maxChanges`, takes the change log of `ty` since then (a
/// state from another epoch, older than the log or with more changes than the log answers at
/// once is `cannotCalculateChanges`), asks `requery` for the results now, and answers with the
/// mutable-filter lists of [`changes_lists`] (`tooManyChanges` when they exceed `maxChanges`)
/// and `total` if `calculateTotal`. The query state is the change-log state of `ty`. The
/// caller has checked the filter and sort; `upToId` is ignored, as the RFC allows.
/// `requery` gets the account's mailbox, the old modseq and the changes.
pub fn query_changes(
    ctx: &mut Ctx<'_>,
    args: &Map<String, Value>,
    ty: ObjType,
    query: &str,
    encode: fn(i64) -> String,
    requery: impl FnOnce(&mut Ctx<'_>, &str, i64, &crate::store::changes::Changes) -> Result<Requery, MethodError>,
) -> MethodResult {
    let (account_id, mailbox) = ctx.account(args)?;
    let since = opt_str(args, "sinceQueryState")?
        .ok_or_else(|| MethodError::invalid("sinceQueryState is required"))?
        .to_string();
    let max = match opt_int(args, "maxChanges")? {
        None => limits::MAX_CHANGES,
        Some(n) if n > 0 => n as usize,
        Some(_) => return Err(MethodError::invalid("maxChanges must be a positive integer")),
    };
    let states = ctx.states(&mailbox)?;
    let since_m = ids::parse_state(&since, &states.epoch).ok_or_else(|| cannot_calculate(query))?;
    let c = match ctx.app.store.changes().since(&mailbox, ty, since_m, limits::MAX_CHANGES)? {
        Ok(c) if !c.has_more => c,
        _ => return Err(cannot_calculate(query)),
    };
    let Requery { results, also_changed, ignore_updates } = requery(ctx, &mailbox, since_m, &c)?;
    let updated: &[i64] = if ignore_updates { &[] } else { &c.updated };
    let (removed, added) = changes_lists(&results, &c.created, updated, &c.destroyed, &also_changed);
    // Each id in removed or added is one change (RFC 8620 section 5.6).
    if removed.len() + added.len() > max {
        return Err(MethodError::new("tooManyChanges"));
    }
    let mut out = json!({
        "accountId": account_id,
        "oldQueryState": since,
        "newQueryState": ids::state(&states.epoch, c.new_modseq),
        "removed": removed.iter().map(|i| encode(*i)).collect::<Vec<_>>(),
        "added": added.iter().map(|(id, idx)| json!({"id": encode(*id), "index": idx})).collect::<Vec<_>>(),
    });
    if opt_bool(args, "calculateTotal", false)? {
        out["total"] = json!(results.len());
    }
    Ok(out)
}

/// The `removed` and `added` of a /queryChanges (RFC 8620 section 5.6) for a query whose
/// filter and sort are mutable, from the new `results` and the objects created, updated and
/// destroyed since the old state; `mates` count as changed too (see [`Requery`]). Removed:
/// every changed object that may have been in the old results; added: every result that is
/// new or was removed, with its index. A client that drops the removed ids from its old
/// results and inserts the added ones at their indexes, lowest first, has the new results.
pub fn changes_lists(
    results: &[i64],
    created: &[i64],
    updated: &[i64],
    destroyed: &[i64],
    mates: &[i64],
) -> (Vec<i64>, Vec<(i64, usize)>) {
    let created: HashSet<i64> = created.iter().copied().collect();
    let mut removed: Vec<i64> =
        updated.iter().chain(destroyed).chain(mates).copied().filter(|id| !created.contains(id)).collect();
    removed.sort_unstable();
    removed.dedup();
    let again: HashSet<i64> = removed.iter().copied().collect();
    let added = results
        .iter()
        .enumerate()
        .filter(|(_, id)| created.contains(id) || again.contains(id))
        .map(|(idx, id)| (*id, idx))
        .collect();
    (removed, added)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn filter_and_sort_limits() {
        let conds = |n: usize| json!({"operator": "AND", "conditions": vec![json!({"text": "a"}); n]});
        // The operator counts too: 1 + 99 is at the limit, 1 + 100 over it.
        assert!(check_filter_size(&conds(limits::MAX_FILTER_CONDITIONS - 1)).is_ok());
        assert_eq!(check_filter_size(&conds(limits::MAX_FILTER_CONDITIONS)).unwrap_err().kind, "unsupportedFilter");
        // Several properties of one condition object each count.
        let mut wide = Map::new();
        for i in 0..=limits::MAX_FILTER_CONDITIONS {
            wide.insert(format!("p{i}"), json!("x"));
        }
        assert_eq!(check_filter_size(&Value::Object(wide)).unwrap_err().kind, "unsupportedFilter");
        let nest = |n: usize| (0..n).fold(json!({"text": "a"}), |f, _| json!({"operator": "NOT", "conditions": [f]}));
        assert!(check_filter_size(&nest(limits::MAX_FILTER_DEPTH)).is_ok());
        let e = check_filter_size(&nest(limits::MAX_FILTER_DEPTH + 1)).unwrap_err();
        assert_eq!(e.kind, "unsupportedFilter");
        assert!(e.description.unwrap().contains("nested"));
        let sort = |n: usize| {
            let mut m = Map::new();
            m.insert("sort".into(), json!(vec![json!({"property": "size"}); n]));
            m
        };
        assert!(check_sort_size(&sort(limits::MAX_SORT_COMPARATORS)).is_ok());
        assert_eq!(check_sort_size(&sort(limits::MAX_SORT_COMPARATORS + 1)).unwrap_err().kind, "unsupportedSort");
    }

    /// A client's cache after RFC 8620 section 5.6: drop every removed id, then insert every
    /// added one at its index, lowest index first.
    pub(crate) fn apply(old: &[i64], removed: &[i64], added: &[(i64, usize)]) -> Vec<i64> {
        let mut out: Vec<i64> = old.iter().copied().filter(|id| !removed.contains(id)).collect();
        let mut added = added.to_vec();
        added.sort_by_key(|a| a.1);
        for (id, idx) in added {
            out.insert(idx.min(out.len()), id);
        }
        out
    }

    /// The model of a query whose filter and sort read only the object itself (Mailbox by role
    /// and sortOrder, EmailSubmission by undoStatus and sendAt): objects are (id, key, matches),
    /// the results those that match, by key, then id.
    fn results(objs: &[(i64, u8, bool)]) -> Vec<i64> {
        let mut m: Vec<_> = objs.iter().filter(|o| o.2).collect();
        m.sort_by_key(|o| (o.1, o.0));
        m.into_iter().map(|o| o.0).collect()
    }

    #[test]
    fn the_lists_turn_the_old_results_into_the_new_for_any_changes_of_objects() {
        // Many random before/after pairs of up to 8 objects: some created, destroyed, updated
        // (key or match changed) or touched without a change that matters.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let mut before: Vec<(i64, u8, bool)> = Vec::new();
            for id in 1..=8 {
                if next(3) > 0 {
                    before.push((id, next(4) as u8, next(3) > 0));
                }
            }
            let (mut after, mut created, mut updated, mut destroyed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for o in &before {
                match next(4) {
                    0 => destroyed.push(o.0),
                    1 => {
                        updated.push(o.0);
                        after.push((o.0, next(4) as u8, next(3) > 0));
                    }
                    _ => after.push(*o),
                }
            }
            for id in 9..=10 {
                if next(2) == 0 {
                    created.push(id);
                    after.push((id, next(4) as u8, next(3) > 0));
                }
            }
            let (old, new) = (results(&before), results(&after));
            let (removed, added) = changes_lists(&new, &created, &updated, &destroyed, &[]);
            assert_eq!(apply(&old, &removed, &added), new, "old {old:?} removed {removed:?} added {added:?}");
            // Counting every result as changed too (a hierarchy change) gives the same answer.
            let (removed, added) = changes_lists(&new, &created, &updated, &destroyed, &new);
            assert_eq!(apply(&old, &removed, &added), new);
            assert!(removed.iter().all(|id| !created.contains(id)), "a new object is never removed");
        }
    }

    #[test]
    fn store_errors_do_not_reach_the_client() {
        let e: MethodError = crate::store::StoreError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(1),
            Some("Expression tree is too large (maximum depth 1000)".into()),
        ))
        .into();
        assert_eq!(e.kind, "serverFail");
        assert!(!e.description.unwrap().contains("Expression"));
    }
}
