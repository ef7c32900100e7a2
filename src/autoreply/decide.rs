//! The decision: should this incoming message get an automatic reply, and if not, why not.
//!
//! [`decide`] is a pure function of the message ([`Incoming`], read from the raw bytes by
//! [`Incoming::parse`]), the mailbox, its [`Settings`], what the store knows about earlier
//! replies ([`History`]) and the current time. It does no I/O and reads no clock, so the
//! corpus under `tests/autoreply/` and the daylight-saving cases are plain table tests.
//! Every outcome carries a [`Reason`] with a stable snake_case code that `explain` prints and
//! `status` counts. Headers are read with `message::header_fields`, which keeps a value with
//! raw 8-bit bytes (a Latin-1 `Auto-Submitted` or `Received` counts like its ASCII twin); it
//! must never go back to an accessor that drops what is not UTF-8.
//!
//! The order of the checks is deliberate:
//! 1. *Is the responder on at all* (`disabled`, `outside_leave`, `too_old`, `initial_sync`):
//!    the common case, and the cheapest answer for the user ("it was not on").
//! 2. *Would any reply do harm* — the RFC 3834 / RFC 5230 checks on the message itself, in
//!    the order Pigeonhole uses: no usable return path (`empty_return_path`, a MUST NOT),
//!    `auto_submitted`, `list_header`, `precedence_bulk`, `suppressed_by_sender`, then our
//!    own: `spam`, `loop_suspected`, `system_sender` (MAILER-DAEMON, noreply, ...),
//!    `own_address`. These never depend on settings, so a reason here is the same whatever
//!    the user configured.
//! 3. *Is it meant for this mailbox* (`not_addressed_to_mailbox`), then *is this sender
//!    someone we answer* (`unknown_sender` when only known correspondents are answered).
//! 4. *Have we answered already*: per conversation on a shared mailbox
//!    (`conversation_answered`), per sender otherwise (`reply_pending` while a reply waits in
//!    the queue, `already_answered` within the interval once one was sent).
//! 5. *Budget*: `rate_limited` last, so that a capped message is one that would otherwise
//!    have been answered.

use chrono::{DateTime, Timelike, Utc};
use mail_parser::MessageParser;

use super::settings::{Answer, Settings};
use crate::config::{Mailbox, MailboxKind};

/// More `Received` headers than this means the message is going round in circles (Postfix
/// bounces at 50 hops; a message forwarded from the company domain shows 5 to 10).
pub const MAX_RECEIVED: usize = 30;

/// Why a message was or was not answered. The code is stable: it is stored, printed by
/// `explain` and counted by `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Reply,
    Disabled,
    OutsideLeave,
    TooOld,
    InitialSync,
    EmptyReturnPath,
    AutoSubmitted,
    ListHeader,
    PrecedenceBulk,
    SuppressedBySender,
    Spam,
    LoopSuspected,
    SystemSender,
    OwnAddress,
    NotAddressedToMailbox,
    UnknownSender,
    ConversationAnswered,
    ReplyPending,
    AlreadyAnswered,
    RateLimited,
}

impl Reason {
    pub const ALL: [Reason; 20] = [
        Reason::Reply,
        Reason::Disabled,
        Reason::OutsideLeave,
        Reason::TooOld,
        Reason::InitialSync,
        Reason::EmptyReturnPath,
        Reason::AutoSubmitted,
        Reason::ListHeader,
        Reason::PrecedenceBulk,
        Reason::SuppressedBySender,
        Reason::Spam,
        Reason::LoopSuspected,
        Reason::SystemSender,
        Reason::OwnAddress,
        Reason::NotAddressedToMailbox,
        Reason::UnknownSender,
        Reason::ConversationAnswered,
        Reason::ReplyPending,
        Reason::AlreadyAnswered,
        Reason::RateLimited,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::Reply => "reply",
            Reason::Disabled => "disabled",
            Reason::OutsideLeave => "outside_leave",
            Reason::TooOld => "too_old",
            Reason::InitialSync => "initial_sync",
            Reason::EmptyReturnPath => "empty_return_path",
            Reason::AutoSubmitted => "auto_submitted",
            Reason::ListHeader => "list_header",
            Reason::PrecedenceBulk => "precedence_bulk",
            Reason::SuppressedBySender => "suppressed_by_sender",
            Reason::Spam => "spam",
            Reason::LoopSuspected => "loop_suspected",
            Reason::SystemSender => "system_sender",
            Reason::OwnAddress => "own_address",
            Reason::NotAddressedToMailbox => "not_addressed_to_mailbox",
            Reason::UnknownSender => "unknown_sender",
            Reason::ConversationAnswered => "conversation_answered",
            Reason::ReplyPending => "reply_pending",
            Reason::AlreadyAnswered => "already_answered",
            Reason::RateLimited => "rate_limited",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub reply: bool,
    pub reason: Reason,
    /// What exactly triggered the reason, for people ("List-Id is present").
    pub detail: String,
    /// The reply goes to a sender of the company's own domain (gets `internal_body`).
    pub internal: bool,
}

impl Decision {
    fn skip(reason: Reason, detail: impl Into<String>) -> Decision {
        Decision { reply: false, reason, detail: detail.into(), internal: false }
    }
}

/// The envelope sender as the final delivery recorded it (`Return-Path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnPath {
    /// No `Return-Path` header at all.
    Missing,
    /// `Return-Path: <>`: a bounce or other null-sender message.
    Null,
    /// Something that is not an address.
    Invalid(String),
    /// An address; `address` is the original sender when `raw` was SRS-rewritten by a forwarder.
    Address { raw: String, address: String },
}

impl ReturnPath {
    pub fn address(&self) -> Option<&str> {
        match self {
            ReturnPath::Address { address, .. } => Some(address),
            _ => None,
        }
    }
}

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

/// What the store knows about earlier replies of this mailbox, for this message's sender and
/// conversation. Only replies made since the last memory reset count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The last reply to this sender that was actually sent.
    pub last_sent_to_sender: Option<DateTime<Utc>>,
    /// A reply to this sender waits in the queue (not sent, not given up).
    pub pending_for_sender: bool,
    /// A reply in this conversation was sent or still waits in the queue.
    pub conversation_answered: bool,
    /// Replies queued by this mailbox in the hour before now.
    pub replies_last_hour: u32,
    /// The sender is a known correspondent: the mailbox has written to them before.
    pub known_sender: bool,
    /// Since when the responder watches this mailbox: older mail came with the first sync.
    pub watching_since: Option<DateTime<Utc>>,
}

/// The mailbox a message arrived in, and the time zone its leave is read in.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub mailbox: &'a Mailbox,
    pub time_zone: chrono_tz::Tz,
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

/// The first word of a header value, lowercased, comments left out: `YES (geprüft)` and
/// `Yes, score=12` both give `yes`.
fn first_word(value: &str) -> String {
    strip_comments(value)
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_lowercase()
}

/// `Precedence: bulk`, `list` or `junk` (RFC 3834 §2), comments left out.
fn is_bulk_precedence(value: &str) -> bool {
    matches!(first_word(value).as_str(), "bulk" | "list" | "junk")
}

/// `X-Auto-Response-Suppress` names `All` or `OOF` among its comma-separated flags.
fn suppresses(value: &str) -> bool {
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

fn strip_comments(s: &str) -> String {
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

/// Read a `Return-Path` value: `<>` is the null sender; an SRS address is decoded.
pub fn parse_return_path(value: &str) -> ReturnPath {
    let v = strip_comments(value);
    let v = v.trim();
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if b > a => v[a + 1..b].trim(),
        _ => v,
    };
    // A source route ("<@relay:user@host>") is obsolete; keep the address after the colon.
    let inner = match inner.strip_prefix('@').and_then(|r| r.split_once(':')) {
        Some((_, a)) => a,
        None => inner,
    };
    if inner.is_empty() {
        return ReturnPath::Null;
    }
    let lower = inner.to_lowercase();
    if address_problem(&lower).is_some() {
        return ReturnPath::Invalid(inner.to_string());
    }
    let address = decode_srs(&lower).unwrap_or_else(|| lower.clone());
    if address_problem(&address).is_some() {
        return ReturnPath::Invalid(inner.to_string());
    }
    ReturnPath::Address { raw: lower, address }
}

/// RFC 5321 §4.5.3.1: a local part has at most 64 octets, a domain at most 255, a path (the
/// address in angle brackets) at most 256.
pub const MAX_LOCAL_PART: usize = 64;
pub const MAX_DOMAIN: usize = 255;
pub const MAX_PATH: usize = 256;

/// Why `addr` cannot be a reply destination, or None when it can: exactly one '@', the
/// RFC 5321 length limits, and the shape `config::is_address` checks.
pub fn address_problem(addr: &str) -> Option<String> {
    let ats = addr.matches('@').count();
    if ats != 1 {
        return Some(format!("has {ats} '@' signs instead of one"));
    }
    let (local, domain) = addr.split_once('@')?;
    if local.len() > MAX_LOCAL_PART {
        return Some(format!("its local part has {} octets (RFC 5321 allows {MAX_LOCAL_PART})", local.len()));
    }
    if domain.len() > MAX_DOMAIN {
        return Some(format!("its domain has {} octets (RFC 5321 allows {MAX_DOMAIN})", domain.len()));
    }
    if addr.len() + 2 > MAX_PATH {
        return Some(format!("as a path it has {} octets (RFC 5321 allows {MAX_PATH})", addr.len() + 2));
    }
    if !crate::config::is_address(addr) {
        return Some("is not an address".into());
    }
    None
}

/// Decode a Sender Rewriting Scheme address back to the original sender:
/// `SRS0=HHH=TT=domain=local@forwarder` and
/// `SRS1=HHH=forwarder1==HHH=TT=domain=local@forwarder2` give `local@domain`. The hash cannot
/// be checked without the forwarder's secret; the address is only used as a reply
/// destination after every other check passed. Returns None for anything that is not SRS.
pub fn decode_srs(addr: &str) -> Option<String> {
    let (local, _forwarder) = addr.rsplit_once('@')?;
    let lower = local.to_ascii_lowercase();
    let srs0_body = if lower.starts_with("srs0") {
        // SRS0=HHH=TT=domain=local; the first separator may also be '+' or '-'.
        let sep = local.as_bytes().get(4).copied()?;
        if !matches!(sep, b'=' | b'+' | b'-') {
            return None;
        }
        &local[5..]
    } else if lower.starts_with("srs1") {
        // SRS1=HHH=forwarder1==HHH=TT=domain=local: the SRS0 part follows "==".
        let (_, rest) = local[4..].split_once("==")?;
        rest
    } else {
        return None;
    };
    let mut parts = srs0_body.splitn(4, '=');
    let _hash = parts.next()?;
    let _timestamp = parts.next()?;
    let domain = parts.next()?;
    let orig_local = parts.next()?;
    if domain.is_empty() || orig_local.is_empty() || !domain.contains('.') {
        return None;
    }
    Some(format!("{orig_local}@{domain}").to_lowercase())
}

/// Local parts of senders that are machines, lists or explicitly not read (RFC 3834 §2,
/// RFC 5230 §4.6, and the noreply family that none of the reference implementations has).
pub fn system_sender(addr: &str) -> Option<&'static str> {
    let local = addr.rsplit_once('@').map(|(l, _)| l).unwrap_or(addr).to_ascii_lowercase();
    // Subaddresses ("noreply+abc") count by their base.
    let base = local.split('+').next().unwrap_or(&local);
    let squashed: String = base.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if matches!(base, "mailer-daemon" | "postmaster" | "listserv" | "majordomo" | "mailerdaemon") {
        return Some("a mail system address");
    }
    if base.starts_with("owner-") || base.ends_with("-owner") {
        return Some("a list owner address (owner-*)");
    }
    // By suffix, not substring: "quote-requests@" is a person's address.
    if base.ends_with("-request") {
        return Some("a list request address (*-request)");
    }
    if squashed.starts_with("noreply")
        || squashed.starts_with("donotreply")
        || squashed.starts_with("dontreply")
        || squashed.ends_with("noreply")
        || squashed.ends_with("donotreply")
        || squashed == "nichtantworten"
        || squashed.starts_with("bounce")
        || squashed.starts_with("mailerdaemon")
    {
        return Some("a no-reply address");
    }
    None
}

/// Is `at` inside the leave: between `from_date` (inclusive) and `to_date` (exclusive), or in a
/// minute matched by one of the recurring absence expressions (read in `tz`)? Dates and
/// expressions add up: a shared mailbox can answer outside office hours all year and all day
/// during the company holidays. With no dates and no expressions the leave is open-ended: on
/// whenever enabled.
pub fn absent_at(settings: &Settings, tz: chrono_tz::Tz, at: DateTime<Utc>) -> bool {
    let dated = settings.from_date.is_some() || settings.to_date.is_some();
    if dated && in_dates(settings, at) {
        return true;
    }
    if !dated && settings.schedule.is_empty() {
        return true;
    }
    schedule_matches(&compile(settings), tz, at)
}

fn in_dates(settings: &Settings, at: DateTime<Utc>) -> bool {
    settings.from_date.is_none_or(|f| at >= f) && settings.to_date.is_none_or(|t| at < t)
}

/// The recurring absence expressions, parsed (they were validated when saved).
fn compile(settings: &Settings) -> Vec<croner::Cron> {
    settings.schedule.iter().filter_map(|s| crate::config::parse_cron(s).ok()).collect()
}

fn schedule_matches(crons: &[croner::Cron], tz: chrono_tz::Tz, at: DateTime<Utc>) -> bool {
    // Cron matches whole minutes: the seconds of the arrival time do not matter.
    let minute = at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at).with_timezone(&tz);
    crons.iter().any(|c| c.is_time_matching(&minute).unwrap_or(false))
}

/// When the absence that covers `at` ends: the leave's end when `at` falls in the dated leave,
/// else the first minute no absence expression matches (searched up to a week ahead).
pub fn absence_end(settings: &Settings, tz: chrono_tz::Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let dated = settings.from_date.is_some() || settings.to_date.is_some();
    if dated && in_dates(settings, at) {
        return settings.to_date;
    }
    let crons = compile(settings);
    if crons.is_empty() || !schedule_matches(&crons, tz, at) {
        return None;
    }
    let mut t = at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at);
    for _ in 0..7 * 24 * 60 {
        t += chrono::Duration::minutes(1);
        if !schedule_matches(&crons, tz, t) {
            return Some(t);
        }
    }
    None
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// The sender belongs to the company: its envelope sender is on a company domain, or its From
/// is and it came through the hosted server the company's mailboxes send from.
pub fn is_internal(msg: &Incoming, mailbox: &Mailbox) -> bool {
    let domains = mailbox.company_domains();
    let hosted_domain = domain_of(&mailbox.hosted_address);
    match msg.return_path.address() {
        Some(rp) if domains.contains(domain_of(rp)) => true,
        Some(rp) if domain_of(rp) == hosted_domain => {
            msg.from.as_deref().is_some_and(|f| domains.contains(domain_of(f)))
        }
        _ => false,
    }
}

/// Decide whether `msg` gets an automatic reply. Pure: see the module text for the order.
pub fn decide(
    msg: &Incoming,
    ctx: &Context<'_>,
    settings: &Settings,
    history: &History,
    now: DateTime<Utc>,
) -> Decision {
    use Reason::*;
    let tz = ctx.time_zone;
    let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string();

    // 1. Is the responder on for this message?
    if !settings.is_enabled {
        return Decision::skip(Disabled, "automatic replies are switched off for this mailbox");
    }
    if let Some(since) = history.watching_since
        && msg.received_at < since
    {
        return Decision::skip(
            InitialSync,
            format!("received {} before postbote watched this mailbox", fmt(msg.received_at)),
        );
    }
    if !absent_at(settings, tz, msg.received_at) {
        return Decision::skip(
            OutsideLeave,
            format!("received {}, outside the leave ({})", fmt(msg.received_at), settings.describe_window(tz)),
        );
    }
    // The absence that covered the message is over by now (postbote was down, or the message
    // waited): a reply now would come late.
    if let Some(end) = absence_end(settings, tz, msg.received_at)
        && now >= end
    {
        return Decision::skip(OutsideLeave, format!("the absence ended {}; a reply now would come late", fmt(end)));
    }
    let age = now - msg.received_at;
    if age > chrono::Duration::seconds(settings.max_age_secs) {
        return Decision::skip(
            TooOld,
            format!(
                "received {}, more than {} ago",
                fmt(msg.received_at),
                super::settings::human_duration(settings.max_age_secs)
            ),
        );
    }

    // 2. Would a reply do harm?
    let rp = match &msg.return_path {
        ReturnPath::Missing => return Decision::skip(EmptyReturnPath, "no Return-Path header"),
        ReturnPath::Null => return Decision::skip(EmptyReturnPath, "Return-Path is <> (a bounce or notification)"),
        ReturnPath::Invalid(v) => {
            let lower = v.to_lowercase();
            let why = address_problem(&lower)
                .or_else(|| {
                    decode_srs(&lower).and_then(|a| address_problem(&a).map(|p| format!("decoded from SRS, {p}")))
                })
                .unwrap_or_else(|| "is not an address".into());
            return Decision::skip(EmptyReturnPath, format!("Return-Path \"{v}\" {why}"));
        }
        ReturnPath::Address { address, .. } => address.as_str(),
    };
    if let Some(v) = &msg.auto_submitted {
        return Decision::skip(AutoSubmitted, format!("Auto-Submitted: {v}"));
    }
    if let Some(h) = &msg.list_header {
        return Decision::skip(ListHeader, format!("{h} is present (mailing list)"));
    }
    if let Some(p) = &msg.precedence
        && is_bulk_precedence(p)
    {
        return Decision::skip(PrecedenceBulk, format!("Precedence: {p}"));
    }
    if let Some(s) = &msg.auto_response_suppress
        && suppresses(s)
    {
        return Decision::skip(SuppressedBySender, format!("X-Auto-Response-Suppress: {s}"));
    }
    if msg.in_junk {
        return Decision::skip(Spam, "the message is in the Junk folder");
    }
    if let Some(s) = &msg.spam_mark {
        return Decision::skip(Spam, s.clone());
    }
    if msg.received_count > MAX_RECEIVED {
        return Decision::skip(
            LoopSuspected,
            format!("{} Received headers (more than {MAX_RECEIVED})", msg.received_count),
        );
    }
    for (what, addr) in [("return path", Some(rp)), ("From", msg.from.as_deref())] {
        if let Some(a) = addr
            && let Some(why) = system_sender(a)
        {
            return Decision::skip(SystemSender, format!("{what} {a} is {why}"));
        }
    }
    let own = |a: &str| ctx.mailbox.all_addresses().any(|o| o.eq_ignore_ascii_case(a));
    for (what, addr) in [("return path", Some(rp)), ("From", msg.from.as_deref())] {
        if let Some(a) = addr
            && own(a)
        {
            return Decision::skip(OwnAddress, format!("{what} {a} is this mailbox's own address"));
        }
    }

    // 3. Is it meant for this mailbox, and is the sender someone we answer?
    // To/Cc/Bcc/Resent-* may name any address of the mailbox. Delivered-To / X-Original-To
    // count only with a company address: they are what the company-domain forward recorded,
    // while the hosted address is in every delivered message (Dovecot adds it), Bcc included.
    let in_headers = msg.recipients.iter().find(|a| own(a));
    let forwarded =
        msg.envelope_recipients.iter().find(|a| ctx.mailbox.addresses.iter().any(|c| c.eq_ignore_ascii_case(a)));
    if in_headers.is_none() && forwarded.is_none() {
        return Decision::skip(
            NotAddressedToMailbox,
            "no address of this mailbox in To, Cc, Resent-To/Cc or the forward's Delivered-To / X-Original-To (Bcc, list or alias not configured)",
        );
    }
    let internal = is_internal(msg, ctx.mailbox);
    if settings.answer == Answer::Known && !internal && !history.known_sender {
        return Decision::skip(
            UnknownSender,
            format!("{rp} has not been written to from this mailbox and is not of the company's domain"),
        );
    }

    // 4. Answered already?
    if ctx.mailbox.kind == MailboxKind::Shared {
        if history.conversation_answered {
            return Decision::skip(ConversationAnswered, "this conversation has had its automatic reply");
        }
    } else {
        if history.pending_for_sender {
            return Decision::skip(ReplyPending, format!("a reply to {rp} waits in the outbound queue"));
        }
        if let Some(last) = history.last_sent_to_sender
            && now - last < chrono::Duration::seconds(settings.interval_secs)
        {
            return Decision::skip(
                AlreadyAnswered,
                format!(
                    "{rp} was answered {} (interval {})",
                    fmt(last),
                    super::settings::human_duration(settings.interval_secs)
                ),
            );
        }
    }

    // 5. Budget.
    if history.replies_last_hour >= settings.max_per_hour {
        return Decision::skip(
            RateLimited,
            format!("{} replies in the last hour (cap {})", history.replies_last_hour, settings.max_per_hour),
        );
    }

    Decision {
        reply: true,
        reason: Reply,
        detail: format!("reply to {rp}{}", if internal { " (internal text)" } else { "" }),
        internal,
    }
}
