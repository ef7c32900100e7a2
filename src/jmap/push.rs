//! PushSubscription (RFC 8620 section 7.2). Background push to a phone's push service is not
//! built: no subscription exists, and creating one is refused (a documented deviation; the
//! EventSource channel in `eventsource` works).

use serde_json::{Map, Value, json};

use super::method::{MethodResult, opt_str_list};
use super::set::SetResponse;

pub fn subscription_get(args: Map<String, Value>) -> MethodResult {
    Ok(json!({"state": "0", "list": [], "notFound": opt_str_list(&args, "ids")?.unwrap_or_default()}))
}

pub fn subscription_set(args: Map<String, Value>) -> MethodResult {
    let mut resp = SetResponse::default();
    if let Some(create) = args.get("create").and_then(Value::as_object) {
        for k in create.keys() {
            resp.not_created(
                k.clone(),
                json!({"type": "forbidden", "description": "push subscriptions are not supported; use EventSource"}),
            );
        }
    }
    if let Some(update) = args.get("update").and_then(Value::as_object) {
        for k in update.keys() {
            resp.not_updated(k.clone(), json!({"type": "notFound"}));
        }
    }
    for k in opt_str_list(&args, "destroy")?.unwrap_or_default() {
        resp.not_destroyed(k, json!({"type": "notFound"}));
    }
    Ok(resp.into_json())
}
