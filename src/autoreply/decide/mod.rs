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
//!
//! The parts, each pure:
//! - `reason.rs`: [`Decision`] and the [`Reason`] codes.
//! - `incoming.rs`: [`Incoming`], the fields of the message read from its raw bytes, with the
//!   header-value readers of `header.rs`.
//! - `address.rs`: the return path ([`ReturnPath`], SRS decoding), RFC 5321 address limits and
//!   the system senders (MAILER-DAEMON, noreply, list addresses).
//! - `mailbox.rs`: own addresses, whether the message is addressed to the mailbox, and whether
//!   the sender is internal.
//! - `leave.rs`: the dated leave and the recurring absence, read in the mailbox's time zone.
//!
//! This file holds [`decide`] itself and its other two inputs, [`History`] and [`Context`].

mod address;
mod header;
mod incoming;
mod leave;
mod mailbox;
mod reason;

use chrono::{DateTime, Utc};

pub use address::{
    MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH, ReturnPath, address_problem, decode_srs, parse_return_path, system_sender,
};
pub use header::emails_in;
pub use incoming::Incoming;
pub use leave::{absence_end, absent_at};
pub use mailbox::is_internal;
pub use reason::{Decision, Reason};

use self::header::{is_bulk_precedence, suppresses};
use self::mailbox::{addressed_to, is_own};
use crate::autoreply::settings::{Answer, Settings, human_duration};
use crate::config::{Mailbox, MailboxKind};

/// More `Received` headers than this means the message is going round in circles (Postfix
/// bounces at 50 hops; a message forwarded from the company domain shows 5 to 10).
pub const MAX_RECEIVED: usize = 30;

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
    let fmt = |t: DateTime<Utc>| crate::clock::local_time(tz, t.timestamp());

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
            format!("received {}, more than {} ago", fmt(msg.received_at), human_duration(settings.max_age_secs)),
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
    for (what, addr) in [("return path", Some(rp)), ("From", msg.from.as_deref())] {
        if let Some(a) = addr
            && is_own(ctx.mailbox, a)
        {
            return Decision::skip(OwnAddress, format!("{what} {a} is this mailbox's own address"));
        }
    }

    // 3. Is it meant for this mailbox (see `mailbox::addressed_to` for which addresses count),
    // and is the sender someone we answer?
    if !addressed_to(msg, ctx.mailbox) {
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
                format!("{rp} was answered {} (interval {})", fmt(last), human_duration(settings.interval_secs)),
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
