//! Reading header values the way the safety checks need them.
//!
//! Small, forgiving readers of one header value: the first keyword with comments left out,
//! whether a `Precedence` marks bulk mail, whether `X-Auto-Response-Suppress` asks for
//! silence, and every address in an address list. They work on values as
//! `message::header_fields` gives them, raw 8-bit bytes included, and never fail: a value
//! they cannot read is simply not what they look for.

/// The first word of a header value, lowercased, comments left out: `YES (geprüft)` and
/// `Yes, score=12` both give `yes`.
pub(super) fn first_word(value: &str) -> String {
    strip_comments(value)
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_lowercase()
}

/// `Precedence: bulk`, `list` or `junk` (RFC 3834 §2), comments left out.
pub(super) fn is_bulk_precedence(value: &str) -> bool {
    matches!(first_word(value).as_str(), "bulk" | "list" | "junk")
}

/// `X-Auto-Response-Suppress` names `All` or `OOF` among its comma-separated flags.
pub(super) fn suppresses(value: &str) -> bool {
    strip_comments(value)
        .split(',')
        .any(|f| f.trim().eq_ignore_ascii_case("all") || f.trim().eq_ignore_ascii_case("oof"))
}

/// Every addr-spec in a header value: the parts in angle brackets, or else the comma-separated
/// words that contain an '@'. Lowercased.
pub fn emails_in(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.contains('<') {
        let mut rest = value;
        while let Some(start) = rest.find('<') {
            let Some(len) = rest[start + 1..].find('>') else { break };
            let a = rest[start + 1..start + 1 + len].trim();
            if a.contains('@') {
                out.push(a.to_lowercase());
            }
            rest = &rest[start + 1 + len + 1..];
        }
    } else {
        for part in value.split(',') {
            let a = strip_comments(part).trim().trim_matches('"').to_string();
            if a.contains('@') && !a.contains(char::is_whitespace) {
                out.push(a.to_lowercase());
            }
        }
    }
    out
}

/// The value with its RFC 5322 comments (parenthesised, possibly nested) left out.
pub(super) fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}
