//! The Email filter (RFC 8621 section 4.4.1): a client's FilterOperator / FilterCondition tree,
//! checked against the documented limits, as the store's `EmailFilter`: every condition of
//! the RFC (`header` and the three thread-keyword conditions included). Shared by
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
            "header" => header(v)?,
            "someInThreadHaveKeyword" => EmailFilter::SomeInThreadHaveKeyword(text(k, v)?),
            "noneInThreadHaveKeyword" => EmailFilter::NoneInThreadHaveKeyword(text(k, v)?),
            "allInThreadHaveKeyword" => EmailFilter::AllInThreadHaveKeyword(text(k, v)?),
            other => {
                return Err(MethodError::with("unsupportedFilter", format!("filter \"{other}\" is not supported")));
            }
        });
    }
    Ok(EmailFilter::And(all))
}

/// `header`: `[name]` (the field exists) or `[name, text]` (its value contains the text).
fn header(v: &Value) -> Result<EmailFilter, MethodError> {
    let bad = || MethodError::invalid("filter header must be [name] or [name, text], strings");
    let list = v.as_array().ok_or_else(bad)?;
    let strings: Vec<&str> = list.iter().map(Value::as_str).collect::<Option<_>>().ok_or_else(bad)?;
    match strings[..] {
        // A field name is printable ASCII without a colon (RFC 5322 section 2.2).
        [name, ..] if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') => {
            Err(MethodError::invalid(format!("\"{name}\" is not a header field name")))
        }
        [name] => Ok(EmailFilter::Header(name.to_string(), None)),
        [name, text] => Ok(EmailFilter::Header(name.to_string(), Some(text.to_string()))),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_filter_shapes() {
        assert_eq!(header(&json!(["X-Prio"])).unwrap(), EmailFilter::Header("X-Prio".into(), None));
        assert_eq!(
            header(&json!(["Subject", "Bad"])).unwrap(),
            EmailFilter::Header("Subject".into(), Some("Bad".into()))
        );
        for bad in
            [json!([]), json!(["a", "b", "c"]), json!("Subject"), json!([1]), json!(["Sub ject"]), json!(["a:b"])]
        {
            assert_eq!(header(&bad).unwrap_err().kind, "invalidArguments", "{bad}");
        }
    }
}
