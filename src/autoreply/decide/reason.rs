//! The outcome of [`decide`](super::decide): a [`Decision`] and the [`Reason`] behind it.
//!
//! A reason code is a stable snake_case word: the store keeps it with each decision, `explain`
//! prints it and `status` counts by it, so a code is never renamed or reused, and a new reason
//! joins [`Reason::ALL`] so that `from_code` knows it. The order of the variants follows the
//! order of the checks in `decide`; it is not a priority of its own.

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
    pub(super) fn skip(reason: Reason, detail: impl Into<String>) -> Decision {
        Decision { reply: false, reason, detail: detail.into(), internal: false }
    }
}
