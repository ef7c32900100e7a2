//! The method toolkit: what every JMAP method shares, at the bottom of request handling.
//!
//! [`Ctx`] is one request's context (the app, the device, creation ids, calls a method asks
//! to run after it); [`MethodError`] is a method-level error (`["error", …]`, never an HTTP
//! error); the argument helpers read and check a call's arguments against the documented
//! limits before any store work. A method that fails leaves the store unchanged. The /set
//! side (`SetArgs`, the one `SetResponse` builder) is in `set`, the Email filter in `filter`.
//! This file imports no method file, no dispatcher and no HTTP.

use std::collections::HashMap;

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

#[cfg(test)]
mod tests {
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
