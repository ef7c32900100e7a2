//! Request handling: the request envelope, `using`, method calls in order, result references
//! (JSON Pointer with `*`), creation-id references and dispatch to the method of each data
//! type (RFC 8620 section 3).
//!
//! This is the only file that imports the data-type files (mailbox, thread, email, ...); they
//! import only the toolkit below them (`method`, `set`, `filter`). A method error becomes an
//! `["error", …]` entry and never an HTTP error; a method that fails leaves the store
//! unchanged. Everything here is synchronous: the transport (`api`) runs it on a blocking
//! thread because all a method does is SQLite.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::device::Authed;
use super::method::{Ctx, MethodError, MethodResult};
use super::{copy, email, identity, mailbox, push, snippet, submission, thread, vacation};
use crate::app::App;

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
pub const TOLERATED: &[&str] = &[
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

/// Run every call of `req` in order and build the response object, whose `sessionState` is
/// `session_state`.
pub fn run(app: &App, authed: &Authed, req: Request, session_state: String) -> Value {
    let mut ctx = Ctx { app, authed, created: HashMap::new(), then: Vec::new() };
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
        for (name, args) in std::mem::take(&mut ctx.then) {
            match implicit(&mut ctx, name, args) {
                Ok(v) => responses.push((name.into(), v, call_id.clone())),
                Err(e) => responses.push(("error".into(), e.to_json(), call_id.clone())),
            }
        }
    }
    let mut out = json!({
        "methodResponses": responses.into_iter().map(|(n, v, c)| json!([n, v, c])).collect::<Vec<_>>(),
        "sessionState": session_state,
    });
    if req.created_ids.is_some() {
        out["createdIds"] = Value::Object(ctx.created.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    }
    out
}

fn dispatch(ctx: &mut Ctx<'_>, using: &[String], name: &str, args: Map<String, Value>) -> MethodResult {
    let cap = match name.split_once('/').map(|x| x.0) {
        Some("Core" | "PushSubscription") => CORE,
        // Blob/copy is core (RFC 8620 section 6.3); the other Blob methods belong to the blob
        // capability (RFC 9404), which this server does not implement.
        Some("Blob") if name == "Blob/copy" => CORE,
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
        "PushSubscription/get" => push::subscription_get(ctx, args),
        "PushSubscription/set" => push::subscription_set(ctx, args),
        "Mailbox/get" => mailbox::mailbox_get(ctx, args),
        "Mailbox/changes" => mailbox::mailbox_changes(ctx, args),
        "Mailbox/query" => mailbox::mailbox_query(ctx, args),
        "Mailbox/queryChanges" => mailbox::mailbox_query_changes(ctx, args),
        "Mailbox/set" => mailbox::mailbox_set(ctx, args),
        "Thread/get" => thread::thread_get(ctx, args),
        "Thread/changes" => thread::thread_changes(ctx, args),
        "Identity/get" => identity::identity_get(ctx, args),
        "Identity/changes" => identity::identity_changes(ctx, args),
        "Identity/set" => identity::identity_set(ctx, args),
        "Email/get" => email::get(ctx, args),
        "Email/changes" => email::changes(ctx, args),
        "Email/query" => email::query(ctx, args),
        "Email/queryChanges" => email::query_changes(ctx, args),
        "Email/set" => email::set(ctx, args),
        "Email/import" => email::import(ctx, args),
        "Email/copy" => copy::email_copy(ctx, args),
        "Blob/copy" => copy::blob_copy(ctx, args),
        "Email/parse" => email::parse(ctx, args),
        "SearchSnippet/get" => snippet::search_snippets(ctx, args),
        "EmailSubmission/get" => submission::submission_get(ctx, args),
        "EmailSubmission/changes" => submission::submission_changes(ctx, args),
        "EmailSubmission/set" => submission::submission_set(ctx, args),
        "EmailSubmission/query" => submission::submission_query(ctx, args),
        "EmailSubmission/queryChanges" => submission::submission_query_changes(ctx, args),
        "VacationResponse/get" => vacation::vacation_get(ctx, args),
        "VacationResponse/set" => vacation::vacation_set(ctx, args),
        _ => Err(MethodError::with("unknownMethod", format!("{name} is not implemented by this server"))),
    }
}

/// A call a method asked for (`Ctx::then`): run as part of that method, so without the
/// `using` check of its own (the client opted into what the method it called implies).
fn implicit(ctx: &mut Ctx<'_>, name: &str, args: Map<String, Value>) -> MethodResult {
    match name {
        "Email/set" => email::set(ctx, args),
        _ => Err(MethodError::server(format!("no implicit call {name}"))),
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
