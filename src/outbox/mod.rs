//! The outbound queue: every message postbote sends (from phones, the auto-responder, the office
//! program) is queued here durably and leaves only under the rules of its transport.
//!
//! The parts: `enqueue` validates and commits in one store transaction and wakes the loop (and
//! holds `cancel` and `retry_now`); `run` is the daemon's queue loop; `gate` is the
//! office-session gate, its clock and the sessions that open it; `send` drains one mailbox
//! over one SMTP connection and `outcome` says, purely, what its answers mean; the retry
//! policy is the pure `retry::next`, pacing the pure `rate` with its glue in `pacing`;
//! `notices` and `waiting_notice` tell senders about failed, expired and waiting mail;
//! `sentcopy` saves Sent copies; `logging` says whether SMTP sessions are recorded (the
//! config's switch or the console's, which ends by itself); `summary` reports the queue's state as plain data (which
//! `status` renders). A message's [`State`] lives in the store, which also keeps
//! what follows it. This module is the only caller of `smtp`. It never sends a message twice
//! without a person's say: a message whose outcome is unknown waits for `postbote queue
//! sent` (it went out), `retry` (send it again) or `cancel`.

pub mod compose;
pub mod enqueue;
pub mod gate;
pub mod logging;
pub mod notices;
pub mod outcome;
pub mod pacing;
pub mod rate;
pub mod retry;
pub mod run;
pub mod send;
pub mod sentcopy;
pub mod summary;
pub mod waiting;
pub mod waiting_notice;

pub use crate::store::outbox::State;
pub use enqueue::{EnqueueError, Origin, Outgoing, Queued, cancel, enqueue, mark_sent, retry_now, senders, state};
pub use gate::{
    session_heartbeat, session_heartbeat_via, session_login, session_login_via, session_logout, session_logout_via,
    sessions, this_process,
};
pub(crate) use notices::notify_failed;
pub use run::run;
pub use summary::{GlobalSummary, PauseCause, Paused, Summary, status, status_global};

pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut b = vec![0u8; bytes];
    rand::rng().fill(&mut b[..]);
    hex::encode(b)
}
