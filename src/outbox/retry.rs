//! The retry policy: a pure function from "how many attempts so far, and what went wrong" to
//! "what now". No I/O, no clock; table-tested below.
//!
//! - A connection problem (DNS, TCP, TLS, timeout) or a 4xx reply: try again later, with
//!   growing waits from `outbox.retry_schedule` (default 1 min, 5, 15, 30, 1 h, 2 h, then every
//!   4 h; the last entry repeats).
//! - A 5xx reply: that recipient has failed for good; the sender is told.
//! - A refused login: stop using the mailbox's transport until the password changes or a
//!   person says "retry". Retrying a wrong password is how a provider locks the account.
//! - A throttling answer (`rate::classify`: "451 too many messages", even as a 5xx): the
//!   recipient is not at fault; try again after the first wait of the schedule, however many
//!   attempts there were (the transport's pacing, in `rate`, does the slowing down).
//! - An answer saying the account is blocked: pause like a refused login; nobody fails.
//!
//! Expiry is not decided here but by the open-gate time a message has waited (see `gate`).

use std::time::Duration;

/// What went wrong in an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No usable connection, or it broke before the message was handed over.
    Connection,
    /// The server answered with this code.
    Reply(u16),
    /// The server refused the login (535 and friends).
    Auth,
    /// The provider asked to slow down.
    Throttle,
    /// The provider blocked the sending account.
    AccountBlocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this long.
    RetryAfter(Duration),
    /// Permanent failure: give up on this recipient now.
    Fail,
    /// Stop sending for this mailbox until a person or a new password lifts it.
    Pause,
}

/// The default schedule (also in `config.example.toml`).
pub const DEFAULT_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(4 * 3600),
];

/// `attempts` counts the attempts made so far, including the one that just failed (>= 1).
pub fn next(attempts: u32, failure: &Failure, schedule: &[Duration]) -> Decision {
    match failure {
        Failure::Auth | Failure::AccountBlocked => Decision::Pause,
        Failure::Throttle => Decision::RetryAfter(schedule.first().copied().unwrap_or(DEFAULT_SCHEDULE[0])),
        Failure::Reply(code) if (500..600).contains(code) => Decision::Fail,
        Failure::Connection | Failure::Reply(_) => {
            let schedule = if schedule.is_empty() { &DEFAULT_SCHEDULE[..] } else { schedule };
            let i = (attempts.max(1) as usize - 1).min(schedule.len() - 1);
            Decision::RetryAfter(schedule[i])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let m = |n: u64| Duration::from_secs(n * 60);
        let s = &DEFAULT_SCHEDULE[..];
        let cases: &[(u32, Failure, Decision)] = &[
            (1, Failure::Connection, Decision::RetryAfter(m(1))),
            (2, Failure::Connection, Decision::RetryAfter(m(5))),
            (3, Failure::Reply(450), Decision::RetryAfter(m(15))),
            (4, Failure::Reply(451), Decision::RetryAfter(m(30))),
            (5, Failure::Reply(452), Decision::RetryAfter(m(60))),
            (6, Failure::Connection, Decision::RetryAfter(m(120))),
            (7, Failure::Connection, Decision::RetryAfter(m(240))),
            (8, Failure::Reply(421), Decision::RetryAfter(m(240))),
            (40, Failure::Connection, Decision::RetryAfter(m(240))),
            (0, Failure::Connection, Decision::RetryAfter(m(1))),
            (1, Failure::Reply(550), Decision::Fail),
            (3, Failure::Reply(552), Decision::Fail),
            (1, Failure::Reply(554), Decision::Fail),
            (1, Failure::Auth, Decision::Pause),
            (9, Failure::Auth, Decision::Pause),
            (1, Failure::Throttle, Decision::RetryAfter(m(1))),
            (7, Failure::Throttle, Decision::RetryAfter(m(1))),
            (1, Failure::AccountBlocked, Decision::Pause),
        ];
        for (n, f, want) in cases {
            assert_eq!(next(*n, f, s), *want, "attempt {n}, {f:?}");
        }
        // A configured schedule (tests use seconds); its last entry repeats.
        let short = [Duration::from_secs(1), Duration::from_secs(2)];
        assert_eq!(next(1, &Failure::Reply(450), &short), Decision::RetryAfter(Duration::from_secs(1)));
        assert_eq!(next(5, &Failure::Reply(450), &short), Decision::RetryAfter(Duration::from_secs(2)));
        assert_eq!(
            next(2, &Failure::Connection, &[]),
            Decision::RetryAfter(m(5)),
            "an empty schedule means the default"
        );
    }
}
