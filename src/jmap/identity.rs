//! Identity methods (RFC 8621 section 6). Identities are the mailbox's company addresses from
//! the config (`Ctx::identities`, which EmailSubmission checks against too), read-only here;
//! their state is a hash of that list, so a config change is a new state.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::method::{Ctx, MethodError, MethodResult, get_ids, get_properties, opt_str};

fn identity_state(ctx: &Ctx<'_>, mailbox: &str) -> String {
    let mut h = Sha256::new();
    for i in ctx.identities(mailbox) {
        h.update(i.to_string());
    }
    format!("i{}", hex::encode(&h.finalize()[..8]))
}

pub fn identity_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let ids = get_ids(ctx, &args)?;
    let props = get_properties(
        &args,
        &["id", "name", "email", "replyTo", "bcc", "textSignature", "htmlSignature", "mayDelete"],
        &["id", "name", "email", "replyTo", "bcc", "textSignature", "htmlSignature", "mayDelete"],
    )?;
    let all = ctx.identities(&mailbox);
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
    Ok(json!({"accountId": account_id, "state": identity_state(ctx, &mailbox), "list": list, "notFound": not_found}))
}

pub fn identity_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let since = opt_str(&args, "sinceState")?.ok_or_else(|| MethodError::invalid("sinceState is required"))?;
    let now = identity_state(ctx, &mailbox);
    if since != now {
        return Err(MethodError::with(
            "cannotCalculateChanges",
            "identities come from the configuration; fetch them again",
        ));
    }
    Ok(json!({"accountId": account_id, "oldState": since, "newState": now, "hasMoreChanges": false,
              "created": [], "updated": [], "destroyed": []}))
}
