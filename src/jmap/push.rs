//! PushSubscription (RFC 8620 section 7.2): `PushSubscription/get` and `/set`.
//!
//! A subscription belongs to the device whose credential made it; another device never sees,
//! changes or destroys it (the store names the device in every statement). There is no
//! account and no state: RFC 8620 ties subscriptions to the credential. What is checked here,
//! before the store: the URL is `https://` with a host (anything else: `invalidProperties`
//! `url`), the Web Push keys are a P-256 point and a 16-byte secret, `verificationCode` is not
//! set at creation, and `expires` is clamped to [`MAX_LIFETIME`] from now (a time in the past
//! is refused). An update may change `verificationCode`, `expires` and `types` (`url`, `keys`
//! and `deviceClientId` are immutable, RFC 8620 section 7.2.2); a `verificationCode` that is
//! not the one sent is refused. `url` and `keys` are never returned.
//!
//! This file does no network I/O: the store wakes the delivery (`push_delivery`), which sends
//! the PushVerification and, once the client set the right code, the StateChanges.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::limits;
use super::method::{Ctx, MethodError, MethodResult, get_ids, invalid_properties as invalid, opt_str_list, utc};
use super::push_wire::{self, parse_subscription_id, subscription_id};
use super::set::SetResponse;
use crate::store::push::{NewSubscription, Subscription, Update, WebPushKeys};
use crate::store::{ObjType, now};

/// The longest a subscription lives: an `expires` later than this from now is clamped, and
/// a subscription without one gets this. A phone renews it while it runs.
pub const MAX_LIFETIME: i64 = 7 * 86_400;
/// At most this many subscriptions per device (`overQuota` beyond).
pub const MAX_PER_DEVICE: usize = 16;
const MAX_URL_LEN: usize = 2048;
const MAX_CLIENT_ID_LEN: usize = 255;
const MAX_TYPES: usize = 32;

const PROPERTIES: &[&str] = &["id", "deviceClientId", "verificationCode", "expires", "types"];

pub fn subscription_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let ids = get_ids(ctx, &args)?;
    let mut props =
        opt_str_list(&args, "properties")?.unwrap_or_else(|| PROPERTIES.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = props.iter().find(|p| !PROPERTIES.contains(&p.as_str()) && *p != "url" && *p != "keys") {
        return Err(MethodError::invalid(format!("unknown property \"{bad}\"")));
    }
    // RFC 8620 section 7.2.1: url and keys are never returned, even when asked for.
    props.retain(|p| p != "url" && p != "keys");
    let mine = ctx.app.store.push().of_device(ctx.authed.device)?;
    let (list, not_found): (Vec<Value>, Vec<String>) = match ids {
        None => (mine.iter().map(|s| to_json(s, &props)).collect(), vec![]),
        Some(ids) => {
            let mut list = Vec::new();
            let mut not_found = Vec::new();
            for id in ids {
                match parse_subscription_id(&id).and_then(|n| mine.iter().find(|s| s.id == n)) {
                    Some(s) => list.push(to_json(s, &props)),
                    None => not_found.push(id),
                }
            }
            (list, not_found)
        }
    };
    Ok(json!({"list": list, "notFound": not_found}))
}

fn to_json(s: &Subscription, props: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(subscription_id(s.id)));
    for p in props {
        let v = match p.as_str() {
            "deviceClientId" => json!(s.device_client_id),
            "verificationCode" => json!(s.client_code),
            "expires" => utc(s.expires),
            "types" => json!(s.types),
            _ => continue,
        };
        m.insert(p.clone(), v);
    }
    Value::Object(m)
}

/// When a subscription asked to expire at `asked` (None: never) ends, seen at `now`: at most
/// [`MAX_LIFETIME`] from now; a time not after now is refused.
pub fn clamp_expires(asked: Option<i64>, now: i64) -> Result<i64, &'static str> {
    match asked {
        Some(t) if t <= now => Err("expires must be in the future"),
        Some(t) => Ok(t.min(now + MAX_LIFETIME)),
        None => Ok(now + MAX_LIFETIME),
    }
}

/// Whether the code a client set is the one sent to its URL.
pub fn code_matches(sent: &str, set: Option<&str>) -> bool {
    set.is_some_and(|c| c.as_bytes() == sent.as_bytes())
}

fn read_expires(v: Option<&Value>) -> Result<Option<i64>, Value> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.timestamp()))
            .map_err(|_| invalid(&["expires"], "expires must be a UTCDate")),
        Some(_) => Err(invalid(&["expires"], "expires must be a UTCDate")),
    }
}

fn read_types(v: Option<&Value>) -> Result<Option<Vec<String>>, Value> {
    let bad = || invalid(&["types"], format!("types must be null or at most {MAX_TYPES} type names"));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() <= MAX_TYPES => a
            .iter()
            .map(|t| {
                let name = t.as_str().ok_or_else(bad)?;
                if !ObjType::ALL.iter().any(|ty| ty.name() == name) {
                    return Err(invalid(&["types"], format!("\"{name}\" is not a type this server pushes")));
                }
                Ok(name.to_string())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

/// A push URL: `https://` and a host, within the length limit.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    if url.len() > MAX_URL_LEN {
        return Err("url is too long");
    }
    let Some(rest) = url.strip_prefix("https://") else { return Err("url must be an https:// URL") };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url must be an https:// URL with a host");
    }
    match url.parse::<axum::http::Uri>() {
        Ok(u) if u.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err("url is not a valid URL"),
    }
}

fn read_keys(v: Option<&Value>) -> Result<Option<WebPushKeys>, Value> {
    let o = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(invalid(&["keys"], "keys must be an object with p256dh and auth")),
    };
    let field = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
            .ok_or_else(|| invalid(&["keys"], format!("keys.{k} must be base64url")))
    };
    let (p256dh, auth) = (field("p256dh")?, field("auth")?);
    push_wire::check_keys(&p256dh, &auth).map_err(|e| invalid(&["keys"], e))?;
    Ok(Some(WebPushKeys { p256dh, auth }))
}

fn new_code() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn create_one(ctx: &Ctx<'_>, o: &Map<String, Value>) -> Result<(i64, i64), Value> {
    const KNOWN: &[&str] = &["deviceClientId", "url", "keys", "verificationCode", "expires", "types", "id"];
    let unknown: Vec<&str> = o.keys().map(String::as_str).filter(|k| !KNOWN.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(invalid(&unknown, "unknown properties"));
    }
    if o.get("id").is_some_and(|v| !v.is_null()) {
        return Err(invalid(&["id"], "id is set by the server"));
    }
    let client_id = o
        .get("deviceClientId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_CLIENT_ID_LEN)
        .ok_or_else(|| invalid(&["deviceClientId"], "deviceClientId is required (a string)"))?;
    let url = o.get("url").and_then(Value::as_str).ok_or_else(|| invalid(&["url"], "url is required"))?;
    check_url(url).map_err(|e| invalid(&["url"], e))?;
    if o.get("verificationCode").is_some_and(|v| !v.is_null()) {
        return Err(invalid(&["verificationCode"], "verificationCode must be null at creation"));
    }
    let keys = read_keys(o.get("keys"))?;
    let expires = clamp_expires(read_expires(o.get("expires"))?, now()).map_err(|e| invalid(&["expires"], e))?;
    let types = read_types(o.get("types"))?;
    let code = new_code();
    let new = NewSubscription {
        device: ctx.authed.device,
        device_client_id: client_id,
        url,
        keys,
        server_code: &code,
        expires,
        types: types.as_deref(),
    };
    match ctx.app.store.push().create(&new, MAX_PER_DEVICE) {
        Ok(Some(id)) => Ok((id, expires)),
        Ok(None) => Err(
            json!({"type": "overQuota", "description": format!("at most {MAX_PER_DEVICE} push subscriptions per device")}),
        ),
        Err(e) => Err(MethodError::from(e).to_json()),
    }
}

fn update_one(ctx: &Ctx<'_>, s: &Subscription, patch: &Map<String, Value>) -> Result<Option<i64>, Value> {
    let immutable: Vec<&str> =
        patch.keys().map(String::as_str).filter(|k| !matches!(*k, "verificationCode" | "expires" | "types")).collect();
    if !immutable.is_empty() {
        return Err(invalid(&immutable, "only verificationCode, expires and types can be changed"));
    }
    let mut u = Update::default();
    if let Some(v) = patch.get("verificationCode") {
        let code = match v {
            Value::Null => None,
            Value::String(c) => Some(c.clone()),
            _ => return Err(invalid(&["verificationCode"], "verificationCode must be a string")),
        };
        if code.is_some() && !code_matches(&s.server_code, code.as_deref()) {
            return Err(invalid(&["verificationCode"], "this is not the code sent to the subscription's URL"));
        }
        u.client_code = Some(code);
    }
    if patch.contains_key("expires") {
        let asked = read_expires(patch.get("expires"))?;
        u.expires = Some(clamp_expires(asked, now()).map_err(|e| invalid(&["expires"], e))?);
    }
    if patch.contains_key("types") {
        u.types = Some(read_types(patch.get("types"))?);
    }
    match ctx.app.store.push().update(ctx.authed.device, s.id, &u) {
        Ok(true) => Ok(u.expires),
        Ok(false) => Err(json!({"type": "notFound"})),
        Err(e) => Err(MethodError::from(e).to_json()),
    }
}

pub fn subscription_set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let create = match args.get("create") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(MethodError::invalid("create must be an object")),
    };
    let update = match args.get("update") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(MethodError::invalid("update must be an object")),
    };
    let destroy = opt_str_list(&args, "destroy")?.unwrap_or_default();
    if create.len() + update.len() + destroy.len() > limits::MAX_OBJECTS_IN_SET {
        return Err(MethodError::with("requestTooLarge", "too many objects in one PushSubscription/set"));
    }
    let device = ctx.authed.device;
    let mut resp = SetResponse::default();
    for (cid, v) in &create {
        let Some(o) = v.as_object() else {
            resp.not_created(cid.clone(), invalid::<&str>(&[], "a PushSubscription must be an object"));
            continue;
        };
        match create_one(ctx, o) {
            Ok((id, expires)) => {
                ctx.created.insert(cid.clone(), subscription_id(id));
                resp.created(cid.clone(), json!({"id": subscription_id(id), "expires": utc(expires)}));
            }
            Err(e) => resp.not_created(cid.clone(), e),
        }
    }
    // Updates that clamped `expires` tell the client the time it got (RFC 8620 section 5.3).
    let mut changed_expires = Map::new();
    let mine = ctx.app.store.push().of_device(device)?;
    for (id, patch) in &update {
        let found =
            ctx.resolve_id(id).and_then(|i| parse_subscription_id(&i)).and_then(|n| mine.iter().find(|s| s.id == n));
        let (Some(s), Some(patch)) = (found, patch.as_object()) else {
            resp.not_updated(id.clone(), json!({"type": "notFound"}));
            continue;
        };
        match update_one(ctx, s, patch) {
            Ok(expires) => {
                resp.updated(id.clone());
                if let Some(t) = expires {
                    changed_expires.insert(id.clone(), json!({"expires": utc(t)}));
                }
            }
            Err(e) => resp.not_updated(id.clone(), e),
        }
    }
    for id in destroy {
        let n = ctx.resolve_id(&id).and_then(|i| parse_subscription_id(&i));
        match n.map(|n| ctx.app.store.push().destroy(device, n)).transpose()? {
            Some(true) => resp.destroyed(id),
            _ => resp.not_destroyed(id, json!({"type": "notFound"})),
        }
    }
    let mut out = resp.stateless(ctx);
    for (id, v) in changed_expires {
        let id = ctx.resolve_id(&id).unwrap_or(id);
        out["updated"][id.as_str()] = v;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_is_clamped_to_a_week_and_must_be_in_the_future() {
        let now = 1_000_000;
        assert_eq!(clamp_expires(None, now), Ok(now + MAX_LIFETIME));
        assert_eq!(clamp_expires(Some(now + 60), now), Ok(now + 60));
        assert_eq!(clamp_expires(Some(now + MAX_LIFETIME), now), Ok(now + MAX_LIFETIME));
        assert_eq!(clamp_expires(Some(now + 30 * 86_400), now), Ok(now + MAX_LIFETIME));
        assert!(clamp_expires(Some(now), now).is_err());
        assert!(clamp_expires(Some(now - 1), now).is_err());
    }

    #[test]
    fn only_the_code_sent_verifies() {
        assert!(code_matches("abc", Some("abc")));
        assert!(!code_matches("abc", Some("abd")));
        assert!(!code_matches("abc", Some("")));
        assert!(!code_matches("abc", None));
    }

    #[test]
    fn push_urls_must_be_https_with_a_host() {
        assert!(check_url("https://push.example/a/b?c=d").is_ok());
        assert!(check_url("https://127.0.0.1:8443/x").is_ok());
        for bad in [
            "http://push.example/x",
            "https:///x",
            "https://",
            "ftp://push.example",
            "push.example/x",
            "https://user:pw@push.example/x",
            "https://push.example/a b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://push.example/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn types_are_null_or_a_short_list_of_names() {
        assert_eq!(read_types(None), Ok(None));
        assert_eq!(read_types(Some(&json!(null))), Ok(None));
        assert_eq!(read_types(Some(&json!(["Email", "Mailbox"]))), Ok(Some(vec!["Email".into(), "Mailbox".into()])));
        assert!(read_types(Some(&json!("Email"))).is_err());
        assert!(read_types(Some(&json!([1]))).is_err());
        let e = read_types(Some(&json!(["Email", "Kalender"]))).unwrap_err();
        assert_eq!((e["type"].as_str(), e["properties"].clone()), (Some("invalidProperties"), json!(["types"])), "{e}");
        assert!(read_types(Some(&json!(vec!["Email"; MAX_TYPES + 1]))).is_err());
    }
}
