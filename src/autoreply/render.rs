//! The automatic reply itself, as RFC 5322 bytes (mail-builder does the RFC 2047 words for
//! umlauts in the subject and display name, and quoted-printable for the body).
//!
//! RFC 3834 §3 and RFC 5230 §5: To is the return path (decoded from SRS) and nothing else;
//! From is the mailbox's primary company address with its name, so the reply aligns with the
//! company's SPF/DKIM on the direct path; `Auto-Submitted: auto-replied` so other responders
//! stay quiet; `X-Auto-Response-Suppress: All` for Exchange; In-Reply-To and References;
//! a Message-ID on the company domain. The body is short text/plain (multipart/alternative
//! when an HTML text is set) and never quotes the original. Pure: the caller passes the time
//! and the random part of the Message-ID.
//!
//! No header value from the settings or the incoming message can split a header: the
//! subject and the display name are written by mail-builder (which encodes a line break
//! as an RFC 2047 word), control characters in the subject become spaces, a message id with
//! white space or a control character is left out, and `Settings::validate` refuses a
//! subject with CR or LF before it is ever stored.

use chrono::{DateTime, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;

use super::decide::{Context, Incoming};
use super::settings::{DEFAULT_SUBJECT, DEFAULT_TEXT, SUBJECT_WITHOUT_ORIGINAL, Settings};

/// Longest subject we write, in characters (RFC 3834 §3.1.5 asks for brevity; Stalwart cuts at 256).
const MAX_SUBJECT_CHARS: usize = 200;

#[derive(Debug, Clone)]
pub struct Reply {
    pub raw: Vec<u8>,
    /// Without angle brackets.
    pub message_id: String,
    pub to: String,
    pub from: String,
    pub subject: String,
}

/// The subject: the template with `{subject}` replaced, without piling up a prefix the
/// original already carries ("Automatische Antwort: Automatische Antwort: ...").
pub fn subject(settings: &Settings, original: &str) -> String {
    let template = settings.subject.as_deref().unwrap_or(DEFAULT_SUBJECT);
    let original = original.trim();
    let s = if original.is_empty() {
        if settings.subject.is_none() {
            SUBJECT_WITHOUT_ORIGINAL.to_string()
        } else {
            template.replace("{subject}", "").trim().trim_end_matches(':').trim().to_string()
        }
    } else {
        let prefix = template.split("{subject}").next().unwrap_or("");
        let original = if !prefix.trim().is_empty() && original.starts_with(prefix.trim()) {
            original[prefix.trim().len()..].trim_start()
        } else {
            original
        };
        template.replace("{subject}", original)
    };
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().count() > MAX_SUBJECT_CHARS {
        s.chars().take(MAX_SUBJECT_CHARS - 1).chain(std::iter::once('…')).collect()
    } else {
        s
    }
}

/// Build the reply to `msg`. `to` is the decoded return path; `random` makes the Message-ID unique.
pub fn render(
    msg: &Incoming,
    ctx: &Context<'_>,
    settings: &Settings,
    to: &str,
    internal: bool,
    now: DateTime<Utc>,
    random: &str,
) -> Reply {
    let mailbox = ctx.mailbox;
    let from = mailbox.primary_address().to_string();
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
    let message_id = format!("{random}@{domain}");
    let subject = subject(settings, &msg.subject);
    let text = match (internal, &settings.internal_body) {
        (true, Some(t)) => t.clone(),
        _ => settings.text_body.clone().unwrap_or_else(|| DEFAULT_TEXT.to_string()),
    };
    let text = normalise_newlines(&text);

    let mut b = MessageBuilder::new()
        .from(Address::new_address(Some(mailbox.name.clone()), from.clone()))
        .to(Address::new_address(None::<String>, to.to_string()))
        .subject(subject.clone())
        // The Date in the office's local time, as a person's mail client would write it.
        .header("Date", Raw::new(now.with_timezone(&ctx.time_zone).to_rfc2822()))
        .message_id(message_id.clone())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .header("X-Auto-Response-Suppress", Raw::new("All"));
    // Ids go out between angle brackets as they are: one with white space or a control
    // character (a line break could start a header of its own) is left out.
    if let Some(orig) = msg.message_id.as_ref().filter(|id| safe_id(id)) {
        let mut refs: Vec<String> = msg.references.iter().filter(|r| safe_id(r)).cloned().collect();
        refs.retain(|r| r != orig);
        refs.push(orig.clone());
        b = b.in_reply_to(orig.clone()).references(MessageId::new_list(refs.into_iter()));
    }
    b = b.text_body(text);
    // The internal text is plain only: the HTML version is the external one.
    if let (false, Some(html)) = (internal && settings.internal_body.is_some(), &settings.html_body) {
        b = b.html_body(html.clone());
    }
    let raw = b.write_to_vec().unwrap_or_default();
    Reply { raw, message_id, to: to.to_string(), from, subject }
}

/// A message id that can be written between angle brackets without changing the header's
/// meaning: no white space, no control character, no angle bracket.
fn safe_id(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

fn normalise_newlines(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    let mut s = s.replace('\n', "\r\n");
    if !s.ends_with("\r\n") {
        s.push_str("\r\n");
    }
    s
}
