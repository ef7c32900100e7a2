//! Identity methods (RFC 8621 section 6): get, changes and set.
//!
//! The identities are the mailbox's company addresses from the config (`Ctx::identities`,
//! which EmailSubmission checks against too): `I0` is the first address, and so on. A phone
//! may change an identity's `name`, `replyTo`, `bcc`, `textSignature` and `htmlSignature`;
//! those are kept in the store (`store.identities()`, keyed by the address) and logged as
//! Identity changes, so `Identity/changes` reports them. It may neither create an identity
//! (`forbidden`: the addresses are the office's to configure, and every one of them already has
//! its identity) nor destroy one (`forbidden`, `mayDelete` is false). The server never uses
//! these values itself: the phone builds the message, so `bcc` and `replyTo` are its to add.
//!
//! The state is the account's Identity state with a hash of the config's identities before
//! it (`<hash>.<epoch>-<modseq>`), so a config change (an address added) is a new state, and
//! a state from before it gets `cannotCalculateChanges` rather than a delta that misses it.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::method::{
    Ctx, MethodError, MethodResult, changes, get_ids, get_properties, invalid_property as invalid, opt_str,
};
use super::set::{SetArgs, SetResponse, set_args};
use super::{ids, type_state};
use crate::store::ObjType;
use crate::store::identities::{IdentityAddress, IdentitySettings, IdentityUpdate};

const PROPS: &[&str] = &["id", "name", "email", "replyTo", "bcc", "textSignature", "htmlSignature", "mayDelete"];

/// The longest name, and the longest signature, a phone may set.
const MAX_NAME: usize = 256;
const MAX_SIGNATURE: usize = 64 * 1024;
/// The most addresses in `replyTo` or `bcc`.
const MAX_ADDRESSES: usize = 50;

/// What the config contributes to the state (`type_state`, which pushes use too).
fn config_hash(ctx: &Ctx<'_>, mailbox: &str) -> String {
    type_state::identity_hash(&ctx.app.config, mailbox)
}

/// `<hash>.<epoch>-<modseq>` from the store's plain state.
fn full_state(ctx: &Ctx<'_>, mailbox: &str, plain: &str) -> String {
    type_state::identity(&ctx.app.config, mailbox, plain)
}

/// The store's plain state inside a state this server gave out under the current config.
fn plain_state<'s>(ctx: &Ctx<'_>, mailbox: &str, s: &'s str) -> Option<&'s str> {
    s.strip_prefix(&config_hash(ctx, mailbox))?.strip_prefix('.')
}

/// An identity as shown: the config's values with what a device set on top.
fn identity_json(config: &Value, set: &IdentitySettings) -> Value {
    let mut v = config.clone();
    if let Some(n) = &set.name {
        v["name"] = json!(n);
    }
    v["replyTo"] = addresses_json(&set.reply_to);
    v["bcc"] = addresses_json(&set.bcc);
    v["textSignature"] = json!(set.text_signature);
    v["htmlSignature"] = json!(set.html_signature);
    v
}

fn addresses_json(list: &Option<Vec<IdentityAddress>>) -> Value {
    match list {
        None => Value::Null,
        Some(l) => json!(l.iter().map(|a| json!({"name": a.name, "email": a.email})).collect::<Vec<_>>()),
    }
}

/// Every identity of the mailbox: as Identity/get shows it, and what a device set on it.
fn all(ctx: &Ctx<'_>, mailbox: &str) -> Result<Vec<(Value, IdentitySettings)>, MethodError> {
    Ok(merge(&ctx.identities(mailbox), ctx.app.store.identities().settings(mailbox)?))
}

/// The config's identities `config` with the settings `set` a device stored on them.
fn merge(config: &[Value], mut set: HashMap<String, IdentitySettings>) -> Vec<(Value, IdentitySettings)> {
    config
        .iter()
        .map(|c| {
            let s = c["email"].as_str().and_then(|e| set.remove(&e.to_lowercase())).unwrap_or_default();
            (identity_json(c, &s), s)
        })
        .collect()
}

pub fn identity_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let ids = get_ids(ctx, &args)?;
    let props = get_properties(&args, PROPS, PROPS)?;
    let states = ctx.states(&mailbox)?;
    let all: Vec<Value> = all(ctx, &mailbox)?.into_iter().map(|(v, _)| v).collect();
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
    let state = full_state(ctx, &mailbox, &ids::state(&states.epoch, states.modseq(ObjType::Identity)));
    Ok(json!({"accountId": account_id, "state": state, "list": list, "notFound": not_found}))
}

fn identity_id(i: i64) -> String {
    format!("I{i}")
}

pub fn identity_changes(ctx: &mut Ctx<'_>, mut args: Map<String, Value>) -> MethodResult {
    let (_, mailbox) = ctx.account(&args)?;
    let since = opt_str(&args, "sinceState")?.ok_or_else(|| MethodError::invalid("sinceState is required"))?;
    let Some(plain) = plain_state(ctx, &mailbox, since).map(String::from) else {
        return Err(MethodError::with(
            "cannotCalculateChanges",
            "the identities in the configuration changed since that state; fetch them again",
        ));
    };
    args.insert("sinceState".into(), json!(plain));
    let (mut out, _) = changes(ctx, &args, ObjType::Identity, identity_id)?;
    for k in ["oldState", "newState"] {
        if let Some(Value::String(s)) = out.get(k) {
            let full = full_state(ctx, &mailbox, s);
            out.insert(k.into(), json!(full));
        }
    }
    Ok(Value::Object(out))
}

pub fn identity_set(ctx: &mut Ctx<'_>, mut args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    // `ifInState` carries the config's hash; the toolkit checks the store's part.
    if let Some(s) = opt_str(&args, "ifInState")? {
        let Some(plain) = plain_state(ctx, &mailbox, s).map(String::from) else {
            return Err(MethodError::new("stateMismatch"));
        };
        args.insert("ifInState".into(), json!(plain));
    }
    let SetArgs { create, update, destroy } = set_args(&args, &states, ObjType::Identity)?;
    // Checked above against the state read when the call began; checked again, with the
    // patches applied to the settings as they are, inside the store's write transaction.
    let expect = args.contains_key("ifInState").then(|| states.modseq(ObjType::Identity));
    let config = ctx.identities(&mailbox);
    let mut resp = SetResponse::default();
    for (cid, _) in create {
        resp.not_created(
            cid,
            json!({"type": "forbidden", "description": "identities are the mailbox's company addresses in the configuration, and each already has one; ask the office to add an address"}),
        );
    }
    let resolved: Vec<(String, Option<String>, Value)> = update
        .into_iter()
        .map(|(id, patch)| {
            let target = ctx.resolve_id(&id);
            (id, target, patch)
        })
        .collect();
    let outcome = ctx.app.store.identities().update(&mailbox, expect, |stored| {
        let current = merge(&config, stored);
        let mut updates = Vec::new();
        let mut results: Vec<(String, Result<(), Value>)> = Vec::new();
        for (id, target, patch) in resolved {
            let found = target
                .and_then(|i| current.iter().position(|c| c.0["id"] == i.as_str()).map(|pos| (pos, &current[pos])));
            let Some((pos, (now, base))) = found else {
                results.push((id, Err(json!({"type": "notFound"}))));
                continue;
            };
            let Some(patch) = patch.as_object() else {
                results.push((id, Err(json!({"type": "invalidPatch", "description": "an update must be an object"}))));
                continue;
            };
            match apply_patch(now, base.clone(), patch) {
                Ok(settings) => {
                    let email = now["email"].as_str().unwrap_or_default().to_string();
                    updates.push(IdentityUpdate { object_id: pos as i64, email, settings });
                    results.push((id, Ok(())));
                }
                Err(e) => results.push((id, Err(e))),
            }
        }
        (updates, results)
    })?;
    let Some(results) = outcome else {
        return Err(MethodError::new("stateMismatch"));
    };
    for (id, r) in results {
        match r {
            Ok(()) => resp.updated(id),
            Err(e) => resp.not_updated(id, e),
        }
    }
    for id in destroy {
        let known = ctx.resolve_id(&id).is_some_and(|i| config.iter().any(|c| c["id"] == i.as_str()));
        let e = if known {
            json!({"type": "forbidden", "description": "an identity of the configuration cannot be destroyed"})
        } else {
            json!({"type": "notFound"})
        };
        resp.not_destroyed(id, e);
    }
    let mut body = resp.finish(ctx, &account_id, &mailbox, &states, ObjType::Identity)?;
    for k in ["oldState", "newState"] {
        if let Some(s) = body[k].as_str() {
            body[k] = json!(full_state(ctx, &mailbox, s));
        }
    }
    Ok(body)
}

/// The settings an identity shown as `now`, with settings `s`, has after `patch`, or the
/// SetError that refuses it. Nothing is changed unless all of the patch is valid; what the
/// patch leaves out stays as it was (a name never set keeps following the config).
fn apply_patch(now: &Value, mut s: IdentitySettings, patch: &Map<String, Value>) -> Result<IdentitySettings, Value> {
    for (k, v) in patch {
        match k.as_str() {
            "id" | "email" | "mayDelete" => {
                if *v != now[k.as_str()] {
                    return Err(invalid(k, "cannot be changed"));
                }
            }
            "name" => match v.as_str() {
                Some(n) if n.contains(['\r', '\n']) => return Err(invalid(k, "must not contain a line break")),
                Some(n) if n.chars().count() > MAX_NAME => {
                    return Err(invalid(k, format!("is longer than {MAX_NAME} characters")));
                }
                Some(n) => s.name = Some(n.to_string()),
                None => return Err(invalid(k, "must be a string")),
            },
            "replyTo" => s.reply_to = addresses(v).map_err(|d| invalid(k, &d))?,
            "bcc" => s.bcc = addresses(v).map_err(|d| invalid(k, &d))?,
            "textSignature" | "htmlSignature" => {
                let Some(text) = v.as_str() else { return Err(invalid(k, "must be a string")) };
                if text.len() > MAX_SIGNATURE {
                    return Err(invalid(k, format!("is longer than {MAX_SIGNATURE} bytes")));
                }
                if k == "textSignature" {
                    s.text_signature = text.to_string();
                } else {
                    s.html_signature = text.to_string();
                }
            }
            _ if k.contains('/') => {
                return Err(json!({"type": "invalidPatch", "description": format!("\"{k}\": set whole properties")}));
            }
            _ => return Err(invalid(k, "is not an Identity property")),
        }
    }
    Ok(s)
}

/// `replyTo` / `bcc`: null or a list of EmailAddress (RFC 8621 section 4.1.2.3). Neither a
/// name nor an address may hold a line break: a phone may copy them into a header.
fn addresses(v: &Value) -> Result<Option<Vec<IdentityAddress>>, String> {
    let list = match v {
        Value::Null => return Ok(None),
        Value::Array(l) => l,
        _ => return Err("must be null or a list of addresses".into()),
    };
    if list.len() > MAX_ADDRESSES {
        return Err(format!("at most {MAX_ADDRESSES} addresses"));
    }
    let mut out = Vec::new();
    for a in list {
        let Some(o) = a.as_object() else { return Err("each address must be an object {name, email}".into()) };
        if let Some(k) = o.keys().find(|k| *k != "name" && *k != "email") {
            return Err(format!("an address has no property \"{k}\""));
        }
        let name = match o.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) if n.contains(['\r', '\n']) => {
                return Err("a name must not contain a line break".into());
            }
            Some(Value::String(n)) => Some(n.clone()),
            Some(_) => return Err("a name must be a string or null".into()),
        };
        let email = o.get("email").and_then(Value::as_str).unwrap_or_default();
        let plausible = email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
            && email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
        if !plausible {
            return Err(format!("\"{email}\" is not an email address"));
        }
        out.push(IdentityAddress { name, email: email.to_string() });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_identity() -> Value {
        json!({"id": "I0", "name": "Hans Becker", "email": "becker@bau-firma.test", "replyTo": null, "bcc": null,
               "textSignature": "", "htmlSignature": "", "mayDelete": false})
    }

    fn patch(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_patch_sets_the_five_properties_and_keeps_the_rest() {
        let now = config_identity();
        let s = apply_patch(
            &now,
            IdentitySettings::default(),
            &patch(json!({"name": "Becker Bau", "replyTo": [{"name": "Büro", "email": "buero@bau-firma.test"}],
                          "textSignature": "Gruß\nHans", "email": "becker@bau-firma.test", "mayDelete": false})),
        )
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("Becker Bau"));
        assert_eq!(
            s.reply_to,
            Some(vec![IdentityAddress { name: Some("Büro".into()), email: "buero@bau-firma.test".into() }])
        );
        assert_eq!(s.bcc, None);
        assert_eq!(s.text_signature, "Gruß\nHans", "a signature may have several lines");
        let shown = identity_json(&now, &s);
        assert_eq!(shown["name"], "Becker Bau");
        assert_eq!(shown["email"], "becker@bau-firma.test");
        assert_eq!(shown["replyTo"][0]["email"], "buero@bau-firma.test");
        // What was set stays when the next patch leaves it out.
        let next = apply_patch(&shown, s, &patch(json!({"bcc": [{"email": "archiv@bau-firma.test"}]}))).unwrap();
        assert_eq!(next.name.as_deref(), Some("Becker Bau"));
        assert!(next.reply_to.is_some() && next.bcc.is_some());
        // A name never set keeps following the config.
        let sig = apply_patch(&now, IdentitySettings::default(), &patch(json!({"htmlSignature": "<b>H</b>"}))).unwrap();
        assert_eq!(sig.name, None);
        assert_eq!(identity_json(&now, &IdentitySettings::default()), now, "nothing set: the config's identity");
    }

    #[test]
    fn a_patch_is_refused_whole_naming_the_property() {
        let now = config_identity();
        for (p, prop, kind) in [
            (json!({"name": "Hans\r\nBcc: evil@evil.test"}), "name", "invalidProperties"),
            (json!({"name": null}), "name", "invalidProperties"),
            (json!({"email": "chef@bau-firma.test"}), "email", "invalidProperties"),
            (json!({"mayDelete": true}), "mayDelete", "invalidProperties"),
            (json!({"id": "I9"}), "id", "invalidProperties"),
            (json!({"replyTo": [{"email": "a@b.test>\r\nX: y"}]}), "replyTo", "invalidProperties"),
            (json!({"bcc": [{"name": "A\nB", "email": "a@b.test"}]}), "bcc", "invalidProperties"),
            (json!({"bcc": [{"email": "nobody"}]}), "bcc", "invalidProperties"),
            (json!({"bcc": "a@b.test"}), "bcc", "invalidProperties"),
            (json!({"textSignature": 5}), "textSignature", "invalidProperties"),
            (json!({"htmlSignature": "x".repeat(MAX_SIGNATURE + 1)}), "htmlSignature", "invalidProperties"),
            (json!({"colour": "red"}), "colour", "invalidProperties"),
        ] {
            let e = apply_patch(&now, IdentitySettings::default(), &patch(p.clone())).unwrap_err();
            assert_eq!(e["type"], kind, "{p}");
            assert_eq!(e["properties"], json!([prop]), "{p}");
        }
        let e = apply_patch(&now, IdentitySettings::default(), &patch(json!({"replyTo/0": null}))).unwrap_err();
        assert_eq!(e["type"], "invalidPatch");
    }
}
