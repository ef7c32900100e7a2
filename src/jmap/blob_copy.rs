//! `Blob/copy` (RFC 8620 section 6.3), the one core method on blobs: a blob one account of the
//! device may read becomes readable in another of its accounts. The copy is an upload of the
//! target account (content-addressed, so the bytes are stored once), answered with its own
//! blob id; within one account a blob is answered with itself. A blob the source account may
//! not read is `notFound`, as if it did not exist.

use serde_json::{Map, Value, json};

use super::ids;
use super::limits;
use super::method::{Ctx, MethodError, MethodResult, opt_str, opt_str_list};

pub fn blob_copy(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let from_id = opt_str(&args, "fromAccountId")?.ok_or_else(|| MethodError::invalid("fromAccountId is required"))?;
    let Some(from) = ctx.authed.mailbox(from_id).map(String::from) else {
        return Err(MethodError::with("fromAccountNotFound", format!("no account \"{from_id}\" for this device")));
    };
    let (account_id, mailbox) = ctx.account(&args)?;
    let blob_ids = opt_str_list(&args, "blobIds")?.ok_or_else(|| MethodError::invalid("blobIds is required"))?;
    if blob_ids.len() > limits::MAX_OBJECTS_IN_SET {
        return Err(MethodError::with(
            "requestTooLarge",
            format!("{} blobs; at most {} per call", blob_ids.len(), limits::MAX_OBJECTS_IN_SET),
        ));
    }
    let (mut copied, mut not_copied) = (Map::new(), Map::new());
    for id in blob_ids {
        match ctx.blob(&from, &id)? {
            Some(_) if from == mailbox => {
                copied.insert(id.clone(), Value::String(id));
            }
            Some(bytes) => {
                let n = ctx.app.store.blobs().upload(&mailbox, &bytes)?;
                copied.insert(id, Value::String(ids::blob(n)));
            }
            None => {
                not_copied.insert(id, json!({"type": "notFound"}));
            }
        }
    }
    let or_null = |m: Map<String, Value>| if m.is_empty() { Value::Null } else { Value::Object(m) };
    Ok(
        json!({"fromAccountId": from_id, "accountId": account_id, "copied": or_null(copied), "notCopied": or_null(not_copied)}),
    )
}
