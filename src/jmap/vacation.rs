//! VacationResponse (RFC 8621 section 8): the singleton is the mailbox's auto-reply settings
//! (`autoreply::load_settings` / `save_settings`), so a change from a phone is what
//! `postbote autoreply explain` and the auto-responder see. Its subject becomes a header of
//! every auto-reply, so one with a line break is refused here, before any renderer.

use serde_json::{Map, Value, json};

use super::body;
use super::ids;
use super::method::{Ctx, MethodError, MethodResult, get_ids, get_properties, invalid_property, utc};
use super::set::{SetArgs, SetResponse, set_args};
use crate::store::ObjType;

const VAC_PROPS: &[&str] = &["id", "isEnabled", "fromDate", "toDate", "subject", "textBody", "htmlBody"];

fn vacation_json(s: &crate::autoreply::Settings, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!("singleton"),
            "isEnabled" => json!(s.is_enabled),
            "fromDate" => s.from_date.map_or(Value::Null, |d| utc(d.timestamp())),
            "toDate" => s.to_date.map_or(Value::Null, |d| utc(d.timestamp())),
            "subject" => json!(s.subject),
            "textBody" => json!(s.text_body),
            "htmlBody" => json!(s.html_body),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    o.insert("id".into(), json!("singleton"));
    Value::Object(o)
}

fn autoreply_err(e: crate::autoreply::AutoreplyError) -> MethodError {
    match e {
        crate::autoreply::AutoreplyError::Store(e) => e.into(),
        e => MethodError::server(e),
    }
}

pub fn vacation_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?;
    let props = get_properties(&args, VAC_PROPS, VAC_PROPS)?;
    let states = ctx.states(&mailbox)?;
    let s = crate::autoreply::load_settings(ctx.app, &mailbox).map_err(autoreply_err)?;
    let (list, not_found): (Vec<Value>, Vec<String>) = match want {
        None => (vec![vacation_json(&s, &props)], vec![]),
        Some(w) => {
            let (found, nf): (Vec<String>, Vec<String>) = w.into_iter().partition(|i| i == "singleton");
            (if found.is_empty() { vec![] } else { vec![vacation_json(&s, &props)] }, nf)
        }
    };
    Ok(
        json!({"accountId": account_id, "state": ids::state(&states.epoch, states.modseq(ObjType::VacationResponse)), "list": list, "notFound": not_found}),
    )
}

fn date(v: &Value, prop: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Value> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.with_timezone(&chrono::Utc)))
            .map_err(|_| invalid_property(prop, "a UTCDate is expected")),
        _ => Err(json!({"type": "invalidProperties", "properties": [prop]})),
    }
}

pub fn vacation_set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let states = ctx.states(&mailbox)?;
    let SetArgs { create, update, destroy } = set_args(&args, &states, ObjType::VacationResponse)?;
    let mut resp = SetResponse::default();
    for (cid, _) in create {
        resp.not_created(cid, json!({"type": "singleton", "description": "there is exactly one VacationResponse"}));
    }
    for id in destroy {
        resp.not_destroyed(id, json!({"type": "singleton", "description": "there is exactly one VacationResponse"}));
    }
    for (id, patch) in update {
        if id != "singleton" {
            resp.not_updated(id, json!({"type": "notFound"}));
            continue;
        }
        let mut s = crate::autoreply::load_settings(ctx.app, &mailbox).map_err(autoreply_err)?;
        let patch = patch.as_object().cloned().unwrap_or_default();
        let mut bad = None;
        for (k, v) in &patch {
            let r: Result<(), Value> = match (k.as_str(), v) {
                ("isEnabled", Value::Bool(b)) => {
                    s.is_enabled = *b;
                    Ok(())
                }
                ("fromDate", v) => date(v, k).map(|d| s.from_date = d),
                ("toDate", v) => date(v, k).map(|d| s.to_date = d),
                // The subject becomes a header of every auto-reply: refused with a line break,
                // so it never reaches the renderer.
                ("subject", Value::String(t)) if !body::one_line(t) => {
                    Err(invalid_property("subject", "the subject must be one line"))
                }
                ("subject", Value::Null | Value::String(_)) => {
                    s.subject = v.as_str().map(String::from);
                    Ok(())
                }
                ("textBody", Value::Null | Value::String(_)) => {
                    s.text_body = v.as_str().map(String::from);
                    Ok(())
                }
                ("htmlBody", Value::Null | Value::String(_)) => {
                    s.html_body = v.as_str().map(String::from);
                    Ok(())
                }
                _ => Err(json!({"type": "invalidProperties", "properties": [k]})),
            };
            if let Err(e) = r {
                bad = Some(e);
                break;
            }
        }
        if let Some(e) = bad {
            resp.not_updated(id, e);
            continue;
        }
        match crate::autoreply::save_settings(ctx.app, &mailbox, &s) {
            Ok(()) => {
                resp.updated(id);
            }
            Err(crate::autoreply::AutoreplyError::Invalid(e)) => {
                resp.not_updated(id, json!({"type": "invalidProperties", "description": e.0}));
            }
            Err(e) => return Err(autoreply_err(e)),
        }
    }
    resp.finish(ctx, &account_id, &mailbox, &states, ObjType::VacationResponse)
}
