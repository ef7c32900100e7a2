//! The Email filter (RFC 8621 section 4.4.1): a client's FilterOperator / FilterCondition tree,
//! checked against the documented limits, as the store's `EmailFilter`. Shared by
//! `Email/query`, `Email/queryChanges` and `SearchSnippet/get` (which highlights its terms).

use serde_json::Value;

use super::ids;
use super::method::{Ctx, MethodError, check_filter_size};
use crate::store::email_query::EmailFilter;

/// A client's filter, within the documented limits, as the store's filter.
pub fn parse_filter(ctx: &Ctx<'_>, v: &Value) -> Result<EmailFilter, MethodError> {
    check_filter_size(v)?;
    parse_filter_node(ctx, v)
}

/// Parse a FilterOperator / FilterCondition into the store's filter.
fn parse_filter_node(ctx: &Ctx<'_>, v: &Value) -> Result<EmailFilter, MethodError> {
    let o = v.as_object().ok_or_else(|| MethodError::invalid("filter must be an object"))?;
    if let Some(op) = o.get("operator") {
        let conds = o
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| MethodError::invalid("a filter operator needs conditions"))?;
        let list = conds.iter().map(|c| parse_filter_node(ctx, c)).collect::<Result<Vec<_>, _>>()?;
        return match op.as_str() {
            Some("AND") => Ok(EmailFilter::And(list)),
            Some("OR") => Ok(EmailFilter::Or(list)),
            Some("NOT") => Ok(EmailFilter::Not(list)),
            _ => Err(MethodError::invalid("operator must be AND, OR or NOT")),
        };
    }
    let mut all = Vec::new();
    let mbox = |s: &Value| -> Result<i64, MethodError> {
        let s = s.as_str().ok_or_else(|| MethodError::invalid("a mailbox id must be a string"))?;
        // An unknown mailbox id simply matches nothing.
        Ok(ctx.resolve_id(s).as_deref().and_then(ids::parse_mailbox).unwrap_or(-1))
    };
    let text = |k: &str, v: &Value| -> Result<String, MethodError> {
        v.as_str().map(String::from).ok_or_else(|| MethodError::invalid(format!("filter {k} must be a string")))
    };
    let date = |k: &str, v: &Value| -> Result<i64, MethodError> {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp())
            .ok_or_else(|| MethodError::invalid(format!("filter {k} must be a UTCDate")))
    };
    for (k, v) in o {
        all.push(match k.as_str() {
            "inMailbox" => EmailFilter::InMailbox(mbox(v)?),
            "inMailboxOtherThan" => EmailFilter::InMailboxOtherThan(
                v.as_array()
                    .ok_or_else(|| MethodError::invalid("inMailboxOtherThan must be a list"))?
                    .iter()
                    .map(&mbox)
                    .collect::<Result<_, _>>()?,
            ),
            "before" => EmailFilter::Before(date(k, v)?),
            "after" => EmailFilter::After(date(k, v)?),
            "minSize" => {
                EmailFilter::MinSize(v.as_i64().ok_or_else(|| MethodError::invalid("minSize must be an integer"))?)
            }
            "maxSize" => {
                EmailFilter::MaxSize(v.as_i64().ok_or_else(|| MethodError::invalid("maxSize must be an integer"))?)
            }
            "hasKeyword" => EmailFilter::HasKeyword(text(k, v)?),
            "notKeyword" => EmailFilter::NotKeyword(text(k, v)?),
            "hasAttachment" => EmailFilter::HasAttachment(
                v.as_bool().ok_or_else(|| MethodError::invalid("hasAttachment must be a boolean"))?,
            ),
            "text" => EmailFilter::Text(text(k, v)?),
            "from" => EmailFilter::From(text(k, v)?),
            "to" => EmailFilter::To(text(k, v)?),
            "cc" => EmailFilter::Cc(text(k, v)?),
            "bcc" => EmailFilter::Bcc(text(k, v)?),
            "subject" => EmailFilter::Subject(text(k, v)?),
            "body" => EmailFilter::Body(text(k, v)?),
            other => {
                return Err(MethodError::with("unsupportedFilter", format!("filter \"{other}\" is not supported")));
            }
        });
    }
    Ok(EmailFilter::And(all))
}
