//! The incoming message as `decide` sees it: [`Incoming`], read once from the raw bytes.
//!
//! [`Incoming::parse`] never fails. It takes what mail-parser gives (Message-ID, threading,
//! subject, From, To/Cc/Bcc) and then walks every header itself with
//! `message::header_fields`, which keeps a value with raw 8-bit bytes: a Latin-1
//! `Auto-Submitted` or `Received` must count like its ASCII twin, so this must never go back
//! to an accessor that drops what is not UTF-8. Where a header repeats, the value that would
//! stop a reply wins (the first bulk `Precedence`, the first `Auto-Submitted` other than `no`).

use chrono::{DateTime, Utc};
use mail_parser::MessageParser;

use super::address::{ReturnPath, parse_return_path};
use super::header::{emails_in, first_word, is_bulk_precedence, suppresses};

/// What `decide` needs of an incoming message. Addresses are lowercased.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// When the message reached the mailbox (IMAP INTERNALDATE).
    pub received_at: DateTime<Utc>,
    /// The message sits in the Junk folder.
    pub in_junk: bool,
    /// The store's conversation id, when the message is (or its references are) in the store.
    pub thread_id: Option<i64>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: String,
    /// The first From address and its display name.
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub return_path: ReturnPath,
    /// To, Cc, Bcc, Resent-To, Resent-Cc, Resent-Bcc.
    pub recipients: Vec<String>,
    /// Delivered-To and X-Original-To: the recipients forwarding hops recorded.
    pub envelope_recipients: Vec<String>,
    /// The first `Auto-Submitted` value other than `no`.
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    /// The name of the first `List-*` header (RFC 2369 / 2919 / 8058).
    pub list_header: Option<String>,
    pub auto_response_suppress: Option<String>,
    /// The header that marks the message as spam, with its value.
    pub spam_mark: Option<String>,
    pub received_count: usize,
}

impl Incoming {
    /// Read the fields `decide` needs from the raw bytes. Never fails: a message that cannot be
    /// parsed has no return path and is skipped as `empty_return_path`.
    pub fn parse(raw: &[u8], received_at: DateTime<Utc>, in_junk: bool, thread_id: Option<i64>) -> Incoming {
        let mut m = Incoming {
            received_at,
            in_junk,
            thread_id,
            message_id: None,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            subject: String::new(),
            from: None,
            from_name: None,
            return_path: ReturnPath::Missing,
            recipients: Vec::new(),
            envelope_recipients: Vec::new(),
            auto_submitted: None,
            precedence: None,
            list_header: None,
            auto_response_suppress: None,
            spam_mark: None,
            received_count: 0,
        };
        let parsed = crate::message::parse(raw);
        m.message_id = parsed.message_id.filter(|s| !s.is_empty());
        m.in_reply_to = parsed.in_reply_to;
        m.references = parsed.references;
        m.subject = parsed.subject;
        if let Some(f) = parsed.from.first() {
            m.from = Some(f.email.to_lowercase());
            m.from_name = f.name.clone();
        }
        for a in parsed.to.iter().chain(&parsed.cc).chain(&parsed.bcc) {
            m.recipients.push(a.email.to_lowercase());
        }
        if MessageParser::default().parse(raw).is_none() {
            return m;
        }
        let mut return_path_seen = false;
        let header_end = crate::message::find_header_end(raw);
        let headers = if header_end == 0 { raw } else { &raw[..header_end] };
        let return_path_utf8 =
            crate::message::raw_header(headers, b"return-path").is_none_or(|v| std::str::from_utf8(&v).is_ok());
        // Every header, whatever its bytes: a raw 8-bit byte must not hide a header from a check.
        for (name, value) in crate::message::header_fields(raw) {
            let lname = name.to_ascii_lowercase();
            match lname.as_str() {
                // The topmost Return-Path is the one the final delivery (Dovecot) wrote.
                "return-path" if !return_path_seen => {
                    return_path_seen = true;
                    m.return_path = parse_return_path(&value);
                    // A raw 8-bit byte is no address (SMTPUTF8 addresses are UTF-8).
                    if !return_path_utf8 {
                        m.return_path = ReturnPath::Invalid(value.trim().to_string());
                    }
                }
                // mail-parser leaves out a From that is not UTF-8; its address still counts.
                "from" if m.from.is_none() => m.from = emails_in(&value).into_iter().next(),
                "to" | "cc" => m.recipients.extend(emails_in(&value)),
                "resent-to" | "resent-cc" | "resent-bcc" => m.recipients.extend(emails_in(&value)),
                "delivered-to" | "x-original-to" => m.envelope_recipients.extend(emails_in(&value)),
                "auto-submitted" => {
                    let v = value.trim();
                    let keyword = first_word(v.split(';').next().unwrap_or(""));
                    if keyword != "no" && m.auto_submitted.is_none() {
                        m.auto_submitted = Some(v.to_string());
                    }
                }
                // The first Precedence that marks bulk mail wins over an earlier harmless one.
                "precedence" if m.precedence.as_deref().is_none_or(|p| !is_bulk_precedence(p)) => {
                    m.precedence = Some(value.trim().to_string())
                }
                "x-auto-response-suppress" if m.auto_response_suppress.as_deref().is_none_or(|s| !suppresses(s)) => {
                    m.auto_response_suppress = Some(value.trim().to_string())
                }
                "x-spam-flag" if first_word(&value) == "yes" => {
                    m.spam_mark.get_or_insert_with(|| format!("X-Spam-Flag: {}", value.trim()));
                }
                "x-spam-status" if first_word(&value) == "yes" => {
                    m.spam_mark.get_or_insert_with(|| "X-Spam-Status: Yes".to_string());
                }
                "received" => m.received_count += 1,
                n if n.starts_with("list-") && m.list_header.is_none() => m.list_header = Some(name.clone()),
                _ => {}
            }
        }
        m.recipients.sort();
        m.recipients.dedup();
        m
    }
}
