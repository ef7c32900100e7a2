//! The API endpoint: request envelope, `using`, method calls in order, result references
//! (JSON Pointer with `*`), creation-id references, request-level errors (problem+json) and
//! method-level errors (RFC 8620 section 3).
//!
//! Limits are checked before any work: the size before the body is read (and while reading),
//! the number of calls before the first is run, concurrent requests per device. A method error
//! becomes an `["error", …]` entry and never an HTTP error; a method that fails leaves the
//! store unchanged. Calls run on a blocking thread because all they do is SQLite.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::Authed;
use super::{Server, email, ids, limits, mail, session, submission};
use crate::app::App;
use crate::store::ObjType;
use crate::store::changes::AccountStates;
use crate::store::changes::ChangesError;

pub const CORE: &str = "urn:ietf:params:jmap:core";
pub const MAIL: &str = "urn:ietf:params:jmap:mail";
pub const SUBMISSION: &str = "urn:ietf:params:jmap:submission";
pub const VACATION: &str = "urn:ietf:params:jmap:vacationresponse";

/// The capabilities this server implements (and a request may name in `using`).
pub const CAPABILITIES: &[&str] = &[CORE, MAIL, SUBMISSION, VACATION];

/// Registered JMAP capabilities this server does not implement. A request naming one of them
/// in `using` is treated as if it had not (nothing of it is opted in), rather than refused with
/// `unknownCapability`: jmap-client puts every capability it knows into every request. Any
/// other unknown URI is refused as RFC 8620 section 3.6.1 says.
const TOLERATED: &[&str] = &[
    "urn:ietf:params:jmap:contacts",
    "urn:ietf:params:jmap:calendars",
    "urn:ietf:params:jmap:websocket",
    "urn:ietf:params:jmap:sieve",
    "urn:ietf:params:jmap:blob",
    "urn:ietf:params:jmap:quota",
    "urn:ietf:params:jmap:principals",
    "urn:ietf:params:jmap:mdn",
    "urn:ietf:params:jmap:smimeverify",
];

/// An RFC 7807 problem document (request-level errors).
pub fn problem(status: StatusCode, ty: &str, detail: &str, limit: Option<&str>) -> Response {
    let mut body = json!({ "type": ty, "status": status.as_u16(), "detail": detail });
    if let Some(l) = limit {
        body["limit"] = Value::String(l.to_string());
    }
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    r
}

fn limit_problem(limit: &str, detail: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, "urn:ietf:params:jmap:error:limit", detail, Some(limit))
}

/// `POST apiUrl`.
pub async fn post_api(State(server): State<Server>, authed: Authed, headers: HeaderMap, body: Body) -> Response {
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limits::MAX_SIZE_REQUEST as u64
    {
        return limit_problem(
            "maxSizeRequest",
            &format!("the request is {len} bytes; at most {} are accepted", limits::MAX_SIZE_REQUEST),
        );
    }
    let Some(_permit) = server.request_permit(authed.device) else {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "urn:ietf:params:jmap:error:limit",
            &format!("at most {} requests of one device at a time", limits::MAX_CONCURRENT_REQUESTS),
            Some("maxConcurrentRequests"),
        );
    };
    let bytes: Bytes = match axum::body::to_bytes(body, limits::MAX_SIZE_REQUEST).await {
        Ok(b) => b,
        Err(_) => {
            return limit_problem(
                "maxSizeRequest",
                &format!("the request is larger than {} bytes", limits::MAX_SIZE_REQUEST),
            );
        }
    };
    let request: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "urn:ietf:params:jmap:error:notJSON",
                &format!("the body is not JSON: {e}"),
                None,
            );
        }
    };
    let req = match Request::parse(request) {
        Ok(r) => r,
        Err(detail) => return problem(StatusCode::BAD_REQUEST, "urn:ietf:params:jmap:error:notRequest", &detail, None),
    };
    if let Some(unknown) =
        req.using.iter().find(|u| !CAPABILITIES.contains(&u.as_str()) && !TOLERATED.contains(&u.as_str()))
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "urn:ietf:params:jmap:error:unknownCapability",
            &format!("this server does not implement the capability \"{unknown}\""),
            None,
        );
    }
    if req.calls.len() > limits::MAX_CALLS_IN_REQUEST {
        return limit_problem(
            "maxCallsInRequest",
            &format!("{} method calls; at most {} per request", req.calls.len(), limits::MAX_CALLS_IN_REQUEST),
        );
    }
    let app = server.app.clone();
    match server.blocking(move || run(&app, &authed, req)).await {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "about:blank", &format!("the request failed: {e}"), None),
    }
}

/// A request that has the right shape.
#[derive(Debug)]
pub struct Request {
    pub using: Vec<String>,
    pub calls: Vec<(String, Value, String)>,
    pub created_ids: Option<Map<String, Value>>,
}

impl Request {
    pub fn parse(v: Value) -> Result<Request, String> {
        let Value::Object(mut o) = v else { return Err("the request must be a JSON object".into()) };
        let using = match o.remove("using") {
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|u| match u {
                    Value::String(s) => Ok(s),
                    _ => Err("\"using\" must be an array of strings".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("\"using\" (an array of capability URIs) is missing".into()),
        };
        let calls = match o.remove("methodCalls") {
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|c| match c {
                    Value::Array(mut inv)
                        if inv.len() == 3 && inv[0].is_string() && inv[1].is_object() && inv[2].is_string() =>
                    {
                        let id = inv.pop().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                        let args = inv.pop().unwrap_or(Value::Null);
                        let name = inv.pop().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                        Ok((name, args, id))
                    }
                    _ => Err("each method call must be [name, arguments object, call id]".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("\"methodCalls\" (an array of invocations) is missing".into()),
        };
        let created_ids = match o.remove("createdIds") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err("\"createdIds\" must be an object".into()),
        };
        Ok(Request { using, calls, created_ids })
    }
}

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
    fn to_json(&self) -> Value {
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

pub type MethodResult = Result<Value, MethodError>;

/// What one request's methods share.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub authed: &'a Authed,
    /// Creation id -> server id, for `#creationId` references.
    pub created: HashMap<String, String>,
    /// Responses a method adds after its own (the implicit `Email/set` of a submission).
    pub extra: Vec<(String, Value)>,
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
}

/// Run every call of `req` in order and build the response object.
pub fn run(app: &App, authed: &Authed, req: Request) -> Value {
    let mut ctx = Ctx { app, authed, created: HashMap::new(), extra: Vec::new() };
    if let Some(m) = &req.created_ids {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                ctx.created.insert(k.clone(), s.to_string());
            }
        }
    }
    let mut responses: Vec<(String, Value, String)> = Vec::new();
    for (name, args, call_id) in req.calls {
        let result = match args {
            Value::Object(mut args) => match resolve_references(&mut args, &responses) {
                Ok(()) => dispatch(&mut ctx, &req.using, &name, args),
                Err(e) => Err(e),
            },
            _ => Err(MethodError::invalid("arguments must be an object")),
        };
        match result {
            Ok(v) => responses.push((name, v, call_id.clone())),
            Err(e) => responses.push(("error".into(), e.to_json(), call_id.clone())),
        }
        for (n, v) in ctx.extra.drain(..) {
            responses.push((n, v, call_id.clone()));
        }
    }
    let mut out = json!({
        "methodResponses": responses.into_iter().map(|(n, v, c)| json!([n, v, c])).collect::<Vec<_>>(),
        "sessionState": session::state(app, authed),
    });
    if req.created_ids.is_some() {
        out["createdIds"] = Value::Object(ctx.created.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    }
    out
}

fn dispatch(ctx: &mut Ctx<'_>, using: &[String], name: &str, args: Map<String, Value>) -> MethodResult {
    let cap = match name.split_once('/').map(|x| x.0) {
        Some("Core" | "PushSubscription") => CORE,
        Some("Mailbox" | "Thread" | "Email" | "SearchSnippet") => MAIL,
        Some("Identity" | "EmailSubmission") => SUBMISSION,
        Some("VacationResponse") => VACATION,
        _ => return Err(MethodError::with("unknownMethod", format!("unknown method {name}"))),
    };
    if !using.iter().any(|u| u == cap) {
        return Err(MethodError::with("unknownMethod", format!("{name} needs \"{cap}\" in using")));
    }
    match name {
        "Core/echo" => Ok(Value::Object(args)),
        // Background push to a phone's push service is not built: no subscription exists, and
        // creating one is refused (a documented deviation; EventSource works).
        "PushSubscription/get" => {
            Ok(json!({"state": "0", "list": [], "notFound": opt_str_list(&args, "ids")?.unwrap_or_default()}))
        }
        "PushSubscription/set" => {
            let not_created: Map<String, Value> = args
                .get("create")
                .and_then(Value::as_object)
                .map(|c| c.keys().map(|k| (k.clone(), json!({"type": "forbidden", "description": "push subscriptions are not supported; use EventSource"}))).collect())
                .unwrap_or_default();
            let not_updated: Map<String, Value> = args
                .get("update")
                .and_then(Value::as_object)
                .map(|c| c.keys().map(|k| (k.clone(), json!({"type": "notFound"}))).collect())
                .unwrap_or_default();
            let not_destroyed: Map<String, Value> = opt_str_list(&args, "destroy")?
                .unwrap_or_default()
                .into_iter()
                .map(|k| (k, json!({"type": "notFound"})))
                .collect();
            Ok(
                json!({"created": {}, "updated": {}, "destroyed": [], "notCreated": not_created, "notUpdated": not_updated, "notDestroyed": not_destroyed}),
            )
        }
        "Mailbox/get" => mail::mailbox_get(ctx, args),
        "Mailbox/changes" => mail::mailbox_changes(ctx, args),
        "Mailbox/query" => mail::mailbox_query(ctx, args),
        "Mailbox/queryChanges" => mail::mailbox_query_changes(ctx, args),
        "Mailbox/set" => mail::mailbox_set(ctx, args),
        "Thread/get" => mail::thread_get(ctx, args),
        "Thread/changes" => mail::thread_changes(ctx, args),
        "Identity/get" => mail::identity_get(ctx, args),
        "Identity/changes" => mail::identity_changes(ctx, args),
        "Email/get" => email::get(ctx, args),
        "Email/changes" => email::changes(ctx, args),
        "Email/query" => email::query(ctx, args),
        "Email/queryChanges" => email::query_changes(ctx, args),
        "Email/set" => email::set(ctx, args),
        "Email/import" => email::import(ctx, args),
        "SearchSnippet/get" => email::search_snippets(ctx, args),
        "EmailSubmission/get" => submission::submission_get(ctx, args),
        "EmailSubmission/changes" => submission::submission_changes(ctx, args),
        "EmailSubmission/set" => submission::submission_set(ctx, args),
        "EmailSubmission/query" => submission::submission_query(ctx, args),
        "EmailSubmission/queryChanges" => submission::submission_query_changes(ctx, args),
        "VacationResponse/get" => submission::vacation_get(ctx, args),
        "VacationResponse/set" => submission::vacation_set(ctx, args),
        _ => Err(MethodError::with("unknownMethod", format!("{name} is not implemented by this server"))),
    }
}

/// Replace every `#name` argument by the value its result reference points to.
fn resolve_references(args: &mut Map<String, Value>, responses: &[(String, Value, String)]) -> Result<(), MethodError> {
    let refs: Vec<String> = args.keys().filter(|k| k.starts_with('#')).cloned().collect();
    for key in refs {
        let plain = key[1..].to_string();
        if args.contains_key(&plain) {
            return Err(MethodError::invalid(format!("both \"{plain}\" and \"{key}\" are given")));
        }
        let r = args.remove(&key).unwrap_or(Value::Null);
        let (Some(result_of), Some(name), Some(path)) = (
            r.get("resultOf").and_then(Value::as_str),
            r.get("name").and_then(Value::as_str),
            r.get("path").and_then(Value::as_str),
        ) else {
            return Err(MethodError::with(
                "invalidResultReference",
                format!("\"{key}\" must be {{resultOf, name, path}}"),
            ));
        };
        let Some((_, value, _)) = responses.iter().find(|(n, _, c)| c == result_of && n == name) else {
            return Err(MethodError::with(
                "invalidResultReference",
                format!("no earlier {name} response with call id \"{result_of}\""),
            ));
        };
        let Some(v) = pointer(value, path) else {
            return Err(MethodError::with(
                "invalidResultReference",
                format!("path \"{path}\" does not resolve in the {name} response"),
            ));
        };
        args.insert(plain, v);
    }
    Ok(())
}

/// RFC 6901 JSON Pointer with the JMAP `*` extension (RFC 8620 section 3.7): `*` maps the rest
/// of the path over an array, flattening arrays that result.
pub fn pointer(v: &Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return Some(v.clone());
    }
    let path = path.strip_prefix('/')?;
    let (tok, rest) = match path.split_once('/') {
        Some((t, r)) => (t, format!("/{r}")),
        None => (path, String::new()),
    };
    let tok = tok.replace("~1", "/").replace("~0", "~");
    match v {
        Value::Array(a) if tok == "*" => {
            let mut out = Vec::new();
            for item in a {
                match pointer(item, &rest)? {
                    Value::Array(inner) => out.extend(inner),
                    x => out.push(x),
                }
            }
            Some(Value::Array(out))
        }
        Value::Array(a) => {
            if tok.is_empty() || (tok.len() > 1 && tok.starts_with('0')) || !tok.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            pointer(a.get(tok.parse::<usize>().ok()?)?, &rest)
        }
        Value::Object(o) => pointer(o.get(&tok)?, &rest),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// What every /set (and Email/import) shares (RFC 8620 section 5.3)

/// `ifInState` must name the type's current state, else the whole call is refused.
pub fn check_if_in_state(args: &Map<String, Value>, states: &AccountStates, ty: ObjType) -> Result<(), MethodError> {
    match opt_str(args, "ifInState")? {
        Some(s) if ids::parse_state(s, &states.epoch) != Some(states.modseq(ty)) => {
            Err(MethodError::new("stateMismatch"))
        }
        _ => Ok(()),
    }
}

/// The `create`, `update` and `destroy` arguments of a /set, checked and within the limit.
pub struct SetArgs {
    pub create: Map<String, Value>,
    pub update: Map<String, Value>,
    pub destroy: Vec<String>,
}

/// Read a /set's arguments: `ifInState` checked against `ty`, the three operations typed, and
/// at most `maxObjectsInSet` objects in all.
pub fn set_args(args: &Map<String, Value>, states: &AccountStates, ty: ObjType) -> Result<SetArgs, MethodError> {
    let object = |key: &str| match args.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o.clone()),
        Some(_) => Err(MethodError::invalid(format!("{key} must be an object"))),
    };
    let (create, update) = (object("create")?, object("update")?);
    let destroy = opt_str_list(args, "destroy")?.unwrap_or_default();
    if create.len() + update.len() + destroy.len() > limits::MAX_OBJECTS_IN_SET {
        return Err(MethodError::with(
            "requestTooLarge",
            format!("at most {} objects per /set", limits::MAX_OBJECTS_IN_SET),
        ));
    }
    check_if_in_state(args, states, ty)?;
    Ok(SetArgs { create, update, destroy })
}

/// Complete a /set response `body` with the account and the type's state before and after.
pub fn with_states(
    ctx: &Ctx<'_>,
    account_id: &str,
    mailbox: &str,
    before: &AccountStates,
    ty: ObjType,
    mut body: Value,
) -> MethodResult {
    let after = ctx.states(mailbox)?;
    body["accountId"] = json!(account_id);
    body["oldState"] = json!(ids::state(&before.epoch, before.modseq(ty)));
    body["newState"] = json!(ids::state(&after.epoch, after.modseq(ty)));
    Ok(body)
}

/// [`with_states`] for a /set whose changes the write-back takes to IMAP: wakes `mailbox`'s
/// write-back when the response reports anything created, updated or destroyed.
pub fn written_back(
    ctx: &Ctx<'_>,
    account_id: &str,
    mailbox: &str,
    before: &AccountStates,
    ty: ObjType,
    body: Value,
) -> MethodResult {
    let some = |k: &str| match &body[k] {
        Value::Object(o) => !o.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    if some("created") || some("updated") || some("destroyed") {
        ctx.app.wake_writeback(mailbox);
    }
    with_states(ctx, account_id, mailbox, before, ty, body)
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
    let since_m = super::ids::parse_state(&since, &states.epoch).ok_or_else(cannot)?;
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
    out.insert("newState".into(), Value::String(super::ids::state(&states.epoch, c.new_modseq)));
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

    /// RFC 8620 section 3.7, the example's responses and the references into them.
    #[test]
    fn rfc8620_result_reference_examples() {
        let query = json!({"accountId": "A1", "queryState": "abcdefg", "canCalculateChanges": true, "position": 0, "total": 101,
            "ids": ["msg1023", "msg223", "msg110", "msg93", "msg91", "msg38", "msg36", "msg33", "msg11", "msg1"]});
        let get = json!({"accountId": "A1", "state": "123456", "list": [
            {"id": "msg1023", "threadId": "trd194"}, {"id": "msg223", "threadId": "trd114"}], "notFound": []});
        let threads = json!({"accountId": "A1", "state": "123456", "list": [
            {"id": "trd194", "emailIds": ["msg1020", "msg1021", "msg1023"]}, {"id": "trd114", "emailIds": ["msg201", "msg223"]}], "notFound": []});
        let responses = vec![
            ("Email/query".to_string(), query, "t0".to_string()),
            ("Email/get".to_string(), get, "t1".to_string()),
            ("Thread/get".to_string(), threads, "t2".to_string()),
        ];
        let resolve = |r: Value| {
            let mut args = Map::new();
            args.insert("#ids".into(), r);
            resolve_references(&mut args, &responses).map(|_| args["ids"].clone())
        };
        assert_eq!(
            resolve(json!({"resultOf": "t0", "name": "Email/query", "path": "/ids"}))
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            10
        );
        assert_eq!(
            resolve(json!({"resultOf": "t1", "name": "Email/get", "path": "/list/*/threadId"})).unwrap(),
            json!(["trd194", "trd114"])
        );
        assert_eq!(
            resolve(json!({"resultOf": "t2", "name": "Thread/get", "path": "/list/*/emailIds"})).unwrap(),
            json!(["msg1020", "msg1021", "msg1023", "msg201", "msg223"]),
            "nested arrays are flattened"
        );
        // Wrong name, unknown call id, bad path: invalidResultReference.
        for bad in [
            json!({"resultOf": "t0", "name": "Email/get", "path": "/ids"}),
            json!({"resultOf": "t9", "name": "Email/query", "path": "/ids"}),
            json!({"resultOf": "t0", "name": "Email/query", "path": "/nope"}),
            json!({"resultOf": "t0", "name": "Email/query"}),
        ] {
            assert_eq!(resolve(bad).unwrap_err().kind, "invalidResultReference");
        }
        // Both forms given: invalidArguments.
        let mut args = Map::new();
        args.insert("ids".into(), json!([]));
        args.insert("#ids".into(), json!({"resultOf": "t0", "name": "Email/query", "path": "/ids"}));
        assert_eq!(resolve_references(&mut args, &responses).unwrap_err().kind, "invalidArguments");
    }

    #[test]
    fn pointer_edge_cases() {
        let v = json!({"a/b": {"~x": [1, [2, 3]]}, "l": [{"k": [1]}, {"k": [2, 3]}]});
        assert_eq!(pointer(&v, "/a~1b/~0x/0"), Some(json!(1)));
        assert_eq!(pointer(&v, "/a~1b/~0x/01"), None);
        assert_eq!(pointer(&v, "/l/*/k"), Some(json!([1, 2, 3])));
        assert_eq!(pointer(&v, ""), Some(v.clone()));
        assert_eq!(pointer(&v, "nolead"), None);
    }

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

    #[test]
    fn request_shapes() {
        assert!(Request::parse(json!({"using": [], "methodCalls": []})).is_ok());
        for bad in [
            json!([]),
            json!({"methodCalls": []}),
            json!({"using": [1], "methodCalls": []}),
            json!({"using": [], "methodCalls": [["Core/echo", {}]]}),
            json!({"using": [], "methodCalls": [["Core/echo", [], "c"]]}),
        ] {
            assert!(Request::parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
