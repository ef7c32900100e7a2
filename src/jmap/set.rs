//! What every /set (and `Email/import`) shares (RFC 8620 section 5.3): reading the
//! `create` / `update` / `destroy` arguments within `maxObjectsInSet` and checking `ifInState`,
//! the SetError of a store refusal, and the one [`SetResponse`] builder that writes the
//! response with the type's state before and after. A /set whose changes IMAP follows wakes
//! the mailbox's write-back through it, only when something changed.
//!
//! Creation ids are request-wide (RFC 8620 section 5.3 and its erratum 6607): an `update` key
//! or `destroy` id `#c` names the object created as `c` earlier in the request or in the same
//! call (creates run first). A method resolves it with `Ctx::resolve_id`, and the builder names
//! the real id in `updated`, `notUpdated`, `destroyed` and `notDestroyed` when it finishes, so
//! no method has to; a `#c` that no creation made stays as given, answered `notFound`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::ids;
use super::limits;
use super::method::{Ctx, MethodError, MethodResult, invalid_property, opt_str, opt_str_list};
use crate::store::ObjType;
use crate::store::changes::AccountStates;
use crate::store::email_set::SetFailure;

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

/// The response of a /set, filled in one object at a time, then finished with the account and
/// the type's state before (`before`, read when the call began) and after.
#[derive(Debug, Default)]
pub struct SetResponse {
    created: Map<String, Value>,
    not_created: Map<String, Value>,
    updated: Map<String, Value>,
    not_updated: Map<String, Value>,
    destroyed: Vec<Value>,
    not_destroyed: Map<String, Value>,
}

impl SetResponse {
    pub fn created(&mut self, creation_id: String, object: Value) {
        self.created.insert(creation_id, object);
    }

    pub fn not_created(&mut self, creation_id: String, error: Value) {
        self.not_created.insert(creation_id, error);
    }

    /// Updated as asked (null: the server changed nothing else the client must learn).
    pub fn updated(&mut self, id: String) {
        self.updated.insert(id, Value::Null);
    }

    pub fn not_updated(&mut self, id: String, error: Value) {
        self.not_updated.insert(id, error);
    }

    pub fn destroyed(&mut self, id: String) {
        self.destroyed.push(Value::String(id));
    }

    pub fn not_destroyed(&mut self, id: String, error: Value) {
        self.not_destroyed.insert(id, error);
    }

    /// Whether anything was created, updated or destroyed.
    pub fn changed_anything(&self) -> bool {
        !self.created.is_empty() || !self.updated.is_empty() || !self.destroyed.is_empty()
    }

    /// Name by their real ids the objects that `update` and `destroy` gave as `#creationId`
    /// (those the request created); an unknown `#c` stays as it was given.
    fn with_real_ids(mut self, created: &HashMap<String, String>) -> Self {
        let real = |k: &str| k.strip_prefix('#').and_then(|c| created.get(c)).cloned();
        for map in [&mut self.updated, &mut self.not_updated, &mut self.not_destroyed] {
            let refs: Vec<String> = map.keys().filter(|k| k.starts_with('#')).cloned().collect();
            for key in refs {
                if let (Some(id), Some(v)) = (real(&key), map.get(&key).cloned()) {
                    map.remove(&key);
                    map.insert(id, v);
                }
            }
        }
        for d in &mut self.destroyed {
            if let Some(id) = d.as_str().and_then(real) {
                *d = Value::String(id);
            }
        }
        self
    }

    /// The six lists of a type without a state (PushSubscription), creation references named
    /// by their real ids.
    pub fn stateless(self, ctx: &Ctx<'_>) -> Value {
        self.with_real_ids(&ctx.created).into_json()
    }

    /// The six lists alone, as they were given.
    pub fn into_json(self) -> Value {
        json!({
            "created": self.created, "updated": self.updated, "destroyed": self.destroyed,
            "notCreated": self.not_created, "notUpdated": self.not_updated, "notDestroyed": self.not_destroyed,
        })
    }

    /// The /set response of a type IMAP does not follow.
    pub fn finish(
        self,
        ctx: &Ctx<'_>,
        account_id: &str,
        mailbox: &str,
        before: &AccountStates,
        ty: ObjType,
    ) -> MethodResult {
        let body = self.with_real_ids(&ctx.created).into_json();
        with_states(ctx, account_id, mailbox, before, ty, body)
    }

    /// The /set response of a type the write-back takes to IMAP: wakes `mailbox`'s write-back
    /// when anything was created, updated or destroyed.
    pub fn written_back(
        self,
        ctx: &Ctx<'_>,
        account_id: &str,
        mailbox: &str,
        before: &AccountStates,
        ty: ObjType,
    ) -> MethodResult {
        if self.changed_anything() {
            ctx.app.wake_writeback(mailbox);
        }
        self.finish(ctx, account_id, mailbox, before, ty)
    }

    /// The `Email/import` response (RFC 8621 section 4.8): `created` and `notCreated` only,
    /// written back like a /set.
    pub fn imported(self, ctx: &Ctx<'_>, account_id: &str, mailbox: &str, before: &AccountStates) -> MethodResult {
        if self.changed_anything() {
            ctx.app.wake_writeback(mailbox);
        }
        let body = json!({"created": self.created, "notCreated": self.not_created});
        with_states(ctx, account_id, mailbox, before, ObjType::Email, body)
    }
}

/// Complete a /set response `body` with the account and the type's state before and after.
fn with_states(
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

/// A /set failure as its JMAP SetError object.
pub fn set_error(f: SetFailure) -> Value {
    match f {
        SetFailure::NotFound => json!({"type": "notFound"}),
        SetFailure::MailboxHasChild => {
            json!({"type": "mailboxHasChild", "description": "the mailbox has mailboxes below it; destroy or move those first"})
        }
        SetFailure::Invalid(p, d) => invalid_property(p, d),
        SetFailure::MailboxHasEmail => {
            json!({"type": "mailboxHasEmail", "description": "the mailbox still holds emails (set onDestroyRemoveEmails to remove them)"})
        }
        SetFailure::Forbidden(d) => json!({"type": "forbidden", "description": d}),
        SetFailure::AlreadyExists(d) => invalid_property("name", d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every list is there even when empty (clients parse them strictly), and only a success
    /// counts as a change: a /set that refused everything must not wake the write-back.
    #[test]
    fn set_response_lists_and_what_counts_as_a_change() {
        assert_eq!(
            SetResponse::default().into_json(),
            json!({"created": {}, "updated": {}, "destroyed": [], "notCreated": {}, "notUpdated": {}, "notDestroyed": {}})
        );
        let mut r = SetResponse::default();
        r.not_created("k1".into(), json!({"type": "forbidden"}));
        r.not_updated("M1".into(), json!({"type": "notFound"}));
        r.not_destroyed("M2".into(), json!({"type": "notFound"}));
        assert!(!r.changed_anything());
        for change in [
            |r: &mut SetResponse| r.created("k2".into(), json!({"id": "M9"})),
            |r: &mut SetResponse| r.updated("M3".into()),
            |r: &mut SetResponse| r.destroyed("M4".into()),
        ] {
            let mut one = SetResponse::default();
            change(&mut one);
            assert!(one.changed_anything());
        }
        r.updated("M3".into());
        r.destroyed("M4".into());
        let v = r.into_json();
        assert_eq!(v["updated"], json!({"M3": null}));
        assert_eq!(v["destroyed"], json!(["M4"]));
        assert_eq!(v["notCreated"]["k1"]["type"], "forbidden");
    }

    /// `#c` in update and destroy is answered under the id the request created for `c`; a
    /// reference nothing created stays as given (answered notFound by the method).
    #[test]
    fn creation_references_are_answered_by_their_real_ids() {
        let created: HashMap<String, String> =
            [("a", "M7"), ("b", "M8"), ("c", "M9")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut r = SetResponse::default();
        r.created("a".into(), json!({"id": "M7"}));
        r.updated("#a".into());
        r.not_updated("#b".into(), json!({"type": "invalidProperties"}));
        r.not_updated("#x".into(), json!({"type": "notFound"}));
        r.destroyed("#c".into());
        r.destroyed("M3".into());
        r.not_destroyed("#b".into(), json!({"type": "mailboxHasEmail"}));
        let v = r.with_real_ids(&created).into_json();
        assert_eq!(v["created"], json!({"a": {"id": "M7"}}), "creation ids stay the keys of created");
        assert_eq!(v["updated"], json!({"M7": null}));
        assert_eq!(v["notUpdated"], json!({"M8": {"type": "invalidProperties"}, "#x": {"type": "notFound"}}));
        assert_eq!(v["destroyed"], json!(["M9", "M3"]));
        assert_eq!(v["notDestroyed"], json!({"M8": {"type": "mailboxHasEmail"}}));
    }
}
