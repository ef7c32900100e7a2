//! SearchSnippet (RFC 8621 section 5): the subject and preview of an email with the first hit
//! of the filter's search terms marked, HTML-escaped; a hit beyond the preview is shown from
//! the body around it. Never a risky cut: where lowercasing would move byte offsets, no mark.

use serde_json::{Map, Value, json};

use super::filter::parse_filter;
use super::ids;
use super::limits;
use super::method::{Ctx, MethodError, MethodResult, opt_str_list};
use crate::store::email_query::EmailFilter;

/// Search terms of a filter that a snippet can highlight.
fn terms(f: &EmailFilter, out: &mut Vec<String>) {
    match f {
        EmailFilter::And(l) | EmailFilter::Or(l) => l.iter().for_each(|x| terms(x, out)),
        EmailFilter::Text(s) | EmailFilter::Subject(s) | EmailFilter::Body(s) => {
            out.push(crate::message::search_needle(s))
        }
        _ => {}
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `s` with the first occurrence of any term marked, or None if no term occurs.
fn mark(s: &str, terms: &[String]) -> Option<String> {
    if !crate::message::lowercase_keeps_offsets(s) {
        // Lowercasing would move byte offsets (a few letters such as 'İ'): no risky cut.
        return None;
    }
    let lower = s.to_lowercase();
    let (pos, len) =
        terms.iter().filter(|t| !t.is_empty()).filter_map(|t| lower.find(t.as_str()).map(|p| (p, t.len()))).min()?;
    Some(format!(
        "{}<mark>{}</mark>{}",
        escape_html(&s[..pos]),
        escape_html(&s[pos..pos + len]),
        escape_html(&s[pos + len..])
    ))
}

pub fn search_snippets(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let (account_id, mailbox) = ctx.account(&args)?;
    let want = opt_str_list(&args, "emailIds")?.ok_or_else(|| MethodError::invalid("emailIds is required"))?;
    if want.len() > limits::MAX_OBJECTS_IN_GET {
        return Err(MethodError::new("requestTooLarge"));
    }
    let mut t = Vec::new();
    if let Some(f) = args.get("filter").filter(|f| !f.is_null()) {
        terms(&parse_filter(ctx, f)?, &mut t);
    }
    let nums: Vec<i64> = want.iter().filter_map(|i| ids::parse_email(i)).collect();
    let rows = ctx.app.store.emails().get(&mailbox, &nums)?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in want {
        match ids::parse_email(&id).and_then(|n| rows.iter().find(|r| r.id == n)) {
            Some(r) => {
                // A hit beyond the preview is shown from the body around it.
                let preview = mark(&r.preview, &t).or_else(|| {
                    let raw = ctx.app.store.messages().raw(r.id).ok().flatten()?;
                    mark(&crate::message::body_snippet(&raw, &t)?, &t)
                });
                list.push(json!({"emailId": id, "subject": mark(&r.subject, &t), "preview": preview}))
            }
            None => not_found.push(id),
        }
    }
    // notFound is null when every id was found (RFC 8621 section 5.1).
    let not_found = if not_found.is_empty() { Value::Null } else { json!(not_found) };
    Ok(json!({"accountId": account_id, "list": list, "notFound": not_found}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_and_escape() {
        let t = vec!["bad".to_string()];
        assert_eq!(mark("Bad in Köln", &t).as_deref(), Some("<mark>Bad</mark> in Köln"));
        assert_eq!(
            mark("Angebot <Bad> & Kueche", &t).as_deref(),
            Some("Angebot &lt;<mark>Bad</mark>&gt; &amp; Kueche")
        );
        assert_eq!(mark("nichts", &t), None);
        // A letter whose lowercase is longer or shorter in UTF-8 never leads to a bad cut.
        assert_eq!(mark("İstanbul: Bad und Rückrufä Ω", &t), None);
        assert_eq!(mark("ẞ Bad", &t), None);
    }
}
