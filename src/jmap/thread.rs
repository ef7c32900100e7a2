//! Thread methods (RFC 8621 section 3). A thread is the store's conversation grouping of the
//! account's emails; its state is the account's Thread modseq.

use serde_json::{Map, Value, json};

use super::ids;
use super::method::{Ctx, MethodError, MethodResult, changes, get_ids, get_properties};
use crate::store::ObjType;

pub fn thread_get(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = get_ids(ctx, &args)?.ok_or_else(|| MethodError::with("requestTooLarge", "Thread/get needs ids"))?;
    get_properties(&args, &["id", "emailIds"], &["id", "emailIds"])?;
    let states = ctx.states(&mailbox)?;
    let nums: Vec<i64> = want.iter().filter_map(|i| ids::parse_thread(i)).collect();
    let threads = ctx.app.store.emails().threads(&mailbox, &nums)?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in want {
        match ids::parse_thread(&id).and_then(|n| threads.get(&n)) {
            Some(emails) => {
                list.push(json!({"id": id, "emailIds": emails.iter().map(|e| ids::email(*e)).collect::<Vec<_>>()}))
            }
            None => not_found.push(id),
        }
    }
    Ok(json!({
        "accountId": account_id,
        "state": ids::state(&states.epoch, states.modseq(ObjType::Thread)),
        "list": list,
        "notFound": not_found,
    }))
}

pub fn thread_changes(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    Ok(Value::Object(changes(ctx, &args, ObjType::Thread, ids::thread)?.0))
}
