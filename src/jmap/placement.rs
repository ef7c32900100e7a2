//! Where a new email goes, as every create of an email gives it (`Email/set` create,
//! `Email/import`, `Email/copy`): `mailboxIds`, `keywords` and `receivedAt`, read by one
//! function with the strictness of RFC 8621 section 4.1.1. Each value of `mailboxIds` and
//! `keywords` MUST be `true` (anything else is `invalidProperties`, never silently dropped);
//! `receivedAt` is a UTCDate or absent (a date that does not parse is `invalidProperties`,
//! never "now"). An email is in exactly one mailbox here (the hosted server is IMAP):
//! more than one is `tooManyMailboxes`. A method-toolkit file: it reads JSON and ids only,
//! so the data-type files above can share it.

use serde_json::{Map, Value, json};

use super::ids;

/// What a create says of an email's place: its one mailbox, and its keywords (lowercase) and
/// receivedAt (Unix time) if given. What stands in for an absent one is the method's choice.
#[derive(Debug, PartialEq)]
pub struct Placement {
    pub folder: i64,
    pub keywords: Option<Vec<String>>,
    pub received_at: Option<i64>,
}

use super::method::invalid_property as invalid;

/// The SetError of an email given more than one mailbox (`maxMailboxesPerEmail` is 1).
pub fn too_many_mailboxes() -> Value {
    json!({"type": "tooManyMailboxes", "description": "an email is in exactly one mailbox here (maxMailboxesPerEmail 1)"})
}

/// Read `mailboxIds`, `keywords` and `receivedAt` of create object `o`. `resolve` is
/// `Ctx::resolve_id` (creation ids of this request).
pub fn parse(resolve: impl Fn(&str) -> Option<String>, o: &Map<String, Value>) -> Result<Placement, Value> {
    let mb = o.get("mailboxIds").and_then(Value::as_object).ok_or_else(|| invalid("mailboxIds", "is required"))?;
    if mb.values().any(|v| *v != Value::Bool(true)) {
        return Err(invalid("mailboxIds", "each value must be true (RFC 8621 section 4.1.1)"));
    }
    let list: Vec<i64> = mb
        .keys()
        .map(|k| {
            resolve(k).as_deref().and_then(ids::parse_mailbox).ok_or_else(|| invalid("mailboxIds", "unknown mailbox"))
        })
        .collect::<Result<_, _>>()?;
    let folder = match list.as_slice() {
        [one] => *one,
        [] => return Err(invalid("mailboxIds", "an email must be in a mailbox")),
        _ => return Err(too_many_mailboxes()),
    };
    let keywords = match o.get("keywords") {
        None | Some(Value::Null) => None,
        Some(Value::Object(k)) => {
            if k.values().any(|v| *v != Value::Bool(true)) {
                return Err(invalid("keywords", "each value must be true (RFC 8621 section 4.1.1)"));
            }
            Some(k.keys().map(|k| k.to_lowercase()).collect())
        }
        Some(_) => return Err(invalid("keywords", "must be an object")),
    };
    let received_at = match o.get("receivedAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| invalid("receivedAt", "must be a UTCDate like 2026-11-02T08:15:00Z"))?
                .timestamp(),
        ),
        Some(_) => return Err(invalid("receivedAt", "must be a UTCDate like 2026-11-02T08:15:00Z")),
    };
    Ok(Placement { folder, keywords, received_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_strictness_for_every_create() {
        let resolve = |s: &str| match s.strip_prefix('#') {
            Some("neu") => Some("F9".to_string()),
            Some(_) => None,
            None => Some(s.to_string()),
        };
        let parse = |v: Value| parse(resolve, v.as_object().unwrap());
        assert_eq!(
            parse(json!({"mailboxIds": {"F2": true}})).unwrap(),
            Placement { folder: 2, keywords: None, received_at: None }
        );
        assert_eq!(
            parse(
                json!({"mailboxIds": {"#neu": true}, "keywords": {"$Seen": true}, "receivedAt": "2026-11-02T08:15:00Z"})
            )
            .unwrap(),
            Placement { folder: 9, keywords: Some(vec!["$seen".into()]), received_at: Some(1793607300) }
        );
        let refused = |v: Value| {
            let e = parse(v).unwrap_err();
            (e["type"].as_str().unwrap().to_string(), e["properties"][0].as_str().unwrap_or("").to_string())
        };
        let bad = |p: &str| ("invalidProperties".to_string(), p.to_string());
        assert_eq!(refused(json!({"mailboxIds": {"F2": true}, "keywords": {"$seen": false}})), bad("keywords"));
        assert_eq!(refused(json!({"mailboxIds": {"F2": true}, "keywords": {"$seen": 1}})), bad("keywords"));
        assert_eq!(refused(json!({"mailboxIds": {"F2": true}, "receivedAt": "gestern"})), bad("receivedAt"));
        assert_eq!(refused(json!({"mailboxIds": {"F2": true}, "receivedAt": 5})), bad("receivedAt"));
        assert_eq!(refused(json!({"mailboxIds": {"F2": true, "F3": false}})), bad("mailboxIds"));
        assert_eq!(refused(json!({"mailboxIds": {}})), bad("mailboxIds"));
        assert_eq!(refused(json!({})), bad("mailboxIds"));
        assert_eq!(refused(json!({"mailboxIds": {"#fremd": true}})), bad("mailboxIds"));
        assert_eq!(refused(json!({"mailboxIds": {"F2": true, "F4": true}})).0, "tooManyMailboxes");
    }
}
