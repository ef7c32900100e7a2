//! The pacing policy: pure functions that say when the next envelope may go, given the send
//! limits, the send times already recorded and the adaptive slow-down after a provider's
//! throttling answer; and what a provider's answer means for pacing. No I/O, no clock (the
//! caller passes `now` in unix seconds); table-tested below, and driven over simulated time
//! with `tokio::time::pause`.
//!
//! - **Limits** (`RateLimits`, from `[direct]`, `[relay]` and `[mailbox.smtp]`): at most N
//!   envelopes per minute, hour and day, each a sliding window over the recorded send times
//!   (`outbox_send_log`, so a restart never resets a day's count). A transport's limits and a
//!   login's limits are separate `Window`s; the latest of their answers wins.
//! - **Adaptive slow-down** (`Adaptive`): a throttling answer doubles the least time between two
//!   envelopes of that transport (halves its rate), starting from the rate actually in effect;
//!   every `RECOVER_EVERY` without another throttle the interval shrinks by `RECOVER_FACTOR`, and
//!   below `MIN_INTERVAL` it is gone. Other transports are untouched: each has its own state.
//! - **Answers** (`classify`): a throttle (421/450/451 with "too many", "rate", "limit" or
//!   "quota", or an enhanced code 4.7.x / 5.7.x / x.4.5 with such words), an account block (a
//!   5xx saying the account or sender is blocked, locked, suspended or disabled), or anything
//!   else. A greylisting 450 for one recipient is never a throttle unless its words say rate.
//!
//! This module never decides about retries of one message (`retry`) and never sends.

use crate::config::RateLimits;

/// Sliding windows, in seconds.
pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// The least interval the slow-down uses, and below which a recovering one ends.
pub const MIN_INTERVAL: f64 = 1.0;
/// The longest interval one throttle after another can build up (15 minutes).
pub const MAX_INTERVAL: f64 = 900.0;
/// How long a transport must stay without a throttling answer before its rate grows again.
pub const RECOVER_EVERY: i64 = 300;
/// The interval is multiplied by this for every `RECOVER_EVERY` without a throttle (the rate
/// grows by a quarter each time: slowly, unlike the halving).
pub const RECOVER_FACTOR: f64 = 0.8;

/// The words people read in `status` and `queue list` for a message held back by pacing (the
/// store keeps them: the lifetime clock stands still while they are the reason).
pub use crate::store::outbox_rate::HELD;

/// What the pacing policy says about the next envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Now,
    /// Not before this unix second.
    HeldUntil(i64),
}

/// The slow-down of one transport after a throttling answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    /// Least seconds between two envelopes right after the throttle.
    pub interval: f64,
    /// When the last throttling answer came (unix seconds).
    pub throttled_at: i64,
}

impl Adaptive {
    /// The interval in force at `now`, or None once it has recovered completely.
    pub fn current(&self, now: i64) -> Option<f64> {
        let steps = ((now - self.throttled_at).max(0) / RECOVER_EVERY).min(1000) as i32;
        let i = self.interval * RECOVER_FACTOR.powi(steps);
        (i >= MIN_INTERVAL).then_some(i)
    }
}

/// One set of limits and what was sent under them.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub limits: RateLimits,
    /// Send times of the last day under this key, oldest first.
    pub sends: &'a [i64],
    pub adaptive: Option<Adaptive>,
}

/// When the next envelope may go under every window.
pub fn next_send(windows: &[Window<'_>], now: i64) -> Pace {
    let mut at = now;
    for w in windows {
        for (limit, span) in [(w.limits.per_minute, MINUTE), (w.limits.per_hour, HOUR), (w.limits.per_day, DAY)] {
            let Some(limit) = limit else { continue };
            let limit = limit.max(1) as usize;
            // A send at `s` counts while `s > now - span`, so it stops counting at `s + span`.
            let inside: Vec<i64> = w.sends.iter().copied().filter(|s| *s > now - span).collect();
            if inside.len() >= limit {
                at = at.max(inside[inside.len() - limit] + span);
            }
        }
        if let Some(a) = w.adaptive
            && let Some(interval) = a.current(now)
        {
            let last = w.sends.last().copied().unwrap_or(i64::MIN).max(a.throttled_at);
            at = at.max(last + interval.ceil() as i64);
        }
    }
    if at > now { Pace::HeldUntil(at) } else { Pace::Now }
}

/// The average seconds between the envelopes of the last minute, if there were any (over the
/// time they actually took, at least one second).
fn observed_interval(sends: &[i64], now: i64) -> Option<f64> {
    let inside: Vec<i64> = sends.iter().copied().filter(|s| *s > now - MINUTE && *s <= now).collect();
    let first = *inside.first()?;
    Some(((now - first).max(1) as f64) / inside.len() as f64)
}

/// A throttling answer came at `now`: halve the rate in effect. That is the slow-down still
/// running if there is one, else the rate of the last minute's sends, else the per-minute limit.
pub fn throttled(prev: Option<Adaptive>, limits: &RateLimits, sends: &[i64], now: i64) -> Adaptive {
    let in_effect = prev
        .and_then(|a| a.current(now))
        .or_else(|| observed_interval(sends, now))
        .or_else(|| limits.per_minute.map(|n| MINUTE as f64 / n.max(1) as f64))
        .unwrap_or(MIN_INTERVAL);
    Adaptive { interval: (in_effect * 2.0).clamp(MIN_INTERVAL, MAX_INTERVAL), throttled_at: now }
}

/// How many recipients one envelope may carry under these limits (None: all of them).
pub fn recipients_per_envelope(limits: &[RateLimits]) -> Option<usize> {
    limits.iter().filter_map(|l| l.recipients_per_message).min().map(|n| n.max(1) as usize)
}

/// What a provider's answer means for pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyClass {
    /// Slow the transport down; the recipients stay pending (even on a 5xx).
    Throttle,
    /// The provider blocked the account: pause this login and tell the sender; nothing fails.
    AccountBlocked,
    /// Whatever `retry::next` makes of the code.
    Other,
}

/// Words that say "rate": whole words, or the start of one ("ratelimit", "limits", "quotas").
const RATE_WORDS: &[&str] = &["rate", "ratelimit", "limit", "quota", "throttl", "drossel"];
/// Phrases that say "rate".
const RATE_PHRASES: &[&str] = &["too many", "zu viele"];
/// Words that say "blocked".
const BLOCK_WORDS: &[&str] = &["blocked", "locked", "suspended", "disabled", "deactivated", "banned", "gesperrt"];
/// Words that say it is the sender's account that is meant (not a recipient's).
const ACCOUNT_WORDS: &[&str] = &["account", "sender", "login", "konto", "absender", "benutzerkonto"];

/// Classify an answer by its code, its enhanced status code (RFC 3463, `(class, subject,
/// detail)`) and its text. Pure; the checks in this order:
/// 1. a positive answer is `Other`;
/// 2. a 5xx naming the account (or sender, login) as blocked, locked, suspended or disabled is
///    `AccountBlocked` (before rate: "account blocked for sending too many" needs a person);
/// 3. words of rate with code 421, 450 or 451, or with an enhanced code x.7.y (policy) or
///    x.4.5 (congestion, used for daily quotas) is `Throttle`;
/// 4. anything else, greylisting included, is `Other`.
pub fn classify(code: u16, enhanced: Option<(u8, u16, u16)>, text: &str) -> ReplyClass {
    if code < 400 {
        return ReplyClass::Other;
    }
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has_word = |list: &[&str]| words.iter().any(|w| list.iter().any(|l| w.starts_with(l)));
    let exact_word = |list: &[&str]| words.iter().any(|w| list.contains(w));
    if code >= 500 && exact_word(BLOCK_WORDS) && exact_word(ACCOUNT_WORDS) {
        return ReplyClass::AccountBlocked;
    }
    let says_rate = has_word(RATE_WORDS) || RATE_PHRASES.iter().any(|p| lower.contains(p));
    let rate_code = matches!(code, 421 | 450 | 451)
        || enhanced.is_some_and(|(_, subject, detail)| subject == 7 || (subject == 4 && detail == 5));
    if says_rate && rate_code {
        return ReplyClass::Throttle;
    }
    ReplyClass::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(m: Option<u32>, h: Option<u32>, d: Option<u32>) -> RateLimits {
        RateLimits { per_minute: m, per_hour: h, per_day: d, recipients_per_message: None }
    }

    #[test]
    fn the_table() {
        let t0 = 1_000_000;
        let ten: Vec<i64> = (0..10).map(|i| t0 + i).collect();
        let w = |limits, sends: &'static [i64]| Window { limits, sends, adaptive: None };
        let leak = |v: Vec<i64>| -> &'static [i64] { Box::leak(v.into_boxed_slice()) };
        let cases: &[(&str, Vec<Window<'static>>, i64, Pace)] = &[
            ("no limits, many sends", vec![w(RateLimits::default(), leak(ten.clone()))], t0 + 10, Pace::Now),
            ("nothing sent yet", vec![w(lim(Some(10), None, None), &[])], t0, Pace::Now),
            ("9 of 10 in the minute", vec![w(lim(Some(10), None, None), leak(ten[..9].to_vec()))], t0 + 9, Pace::Now),
            (
                "10 of 10: the oldest must leave the minute",
                vec![w(lim(Some(10), None, None), leak(ten.clone()))],
                t0 + 10,
                Pace::HeldUntil(t0 + 60),
            ),
            ("a minute later it may go", vec![w(lim(Some(10), None, None), leak(ten.clone()))], t0 + 60, Pace::Now),
            (
                "the hour counts what the minute forgot",
                vec![w(lim(Some(10), Some(10), None), leak(ten.clone()))],
                t0 + 61,
                Pace::HeldUntil(t0 + 3600),
            ),
            ("the day", vec![w(lim(None, None, Some(10)), leak(ten.clone()))], t0 + 7200, Pace::HeldUntil(t0 + DAY)),
            (
                "a login's limit on top of the transport's: the later one wins",
                vec![w(lim(Some(100), None, None), leak(ten.clone())), w(lim(None, Some(5), None), leak(ten.clone()))],
                t0 + 10,
                Pace::HeldUntil(t0 + 5 + HOUR),
            ),
        ];
        for (what, windows, now, want) in cases {
            assert_eq!(next_send(windows, *now), *want, "{what}");
        }
    }

    #[test]
    fn a_throttle_halves_the_rate_and_it_recovers_slowly() {
        let t = 2_000_000;
        // 20 sends over 10 s were going out: one every half second; halved, one a second.
        let sends: Vec<i64> = (0..20).map(|i| t - 10 + i / 2).collect();
        let a = throttled(None, &RateLimits::default(), &sends, t);
        assert_eq!(a.interval, 1.0);
        // A second throttle right away halves again, from what is in effect.
        let b = throttled(Some(a), &RateLimits::default(), &sends, t + 1);
        assert_eq!(b.interval, 2.0);
        let c = throttled(Some(b), &RateLimits::default(), &sends, t + 2);
        assert_eq!(c.interval, 4.0);
        // Nothing sent lately: half the configured per-minute rate (10/min -> one per 12 s).
        let d = throttled(None, &lim(Some(10), None, None), &[], t);
        assert_eq!(d.interval, 12.0);
        // Recovery: unchanged for RECOVER_EVERY, then a fifth less every step, then gone.
        assert_eq!(d.current(t + RECOVER_EVERY - 1), Some(12.0));
        assert_eq!(d.current(t + RECOVER_EVERY), Some(12.0 * 0.8));
        assert!(d.current(t + 12 * RECOVER_EVERY).is_none(), "12 * 0.8^12 < 1 s: recovered");
        // The interval is never more than MAX_INTERVAL however often it is halved.
        let mut x = d;
        for i in 0..30 {
            x = throttled(Some(x), &RateLimits::default(), &[], t + i);
        }
        assert_eq!(x.interval, MAX_INTERVAL);
        // Pacing: the next one waits the interval after the later of the last send and the throttle.
        let w = [Window { limits: RateLimits::default(), sends: &[t - 5], adaptive: Some(d) }];
        assert_eq!(next_send(&w, t), Pace::HeldUntil(t + 12));
        // Another transport with no slow-down is not held.
        let other = [Window { limits: RateLimits::default(), sends: &[t - 5], adaptive: None }];
        assert_eq!(next_send(&other, t), Pace::Now);
    }

    #[test]
    fn envelope_size_is_the_smallest_recipient_limit() {
        let r = |n| RateLimits { recipients_per_message: n, ..RateLimits::default() };
        assert_eq!(recipients_per_envelope(&[r(None), r(None)]), None);
        assert_eq!(recipients_per_envelope(&[r(Some(50)), r(None)]), Some(50));
        assert_eq!(recipients_per_envelope(&[r(Some(50)), r(Some(20))]), Some(20));
    }

    /// Answers in the shapes providers and common MTAs give them.
    #[test]
    fn classify_provider_answers() {
        use ReplyClass::*;
        let cases: &[(u16, &str, ReplyClass)] = &[
            (250, "2.0.0 Ok: queued as 4ABC", Other),
            (451, "4.7.1 Too many messages, slow down", Throttle),
            (421, "4.7.0 mail.example: Too many concurrent SMTP connections from this IP", Throttle),
            (450, "4.7.1 <a@k.test>: Recipient address rejected: Rate limit reached", Throttle),
            (451, "Ratelimit exceeded for user, try again later", Throttle),
            (452, "4.5.3 Error: too many recipients", Other),
            (550, "5.4.5 Daily user sending quota exceeded.", Throttle),
            (554, "5.7.0 Sending limit exceeded, please wait", Throttle),
            (421, "4.7.0 Zu viele Nachrichten in kurzer Zeit", Throttle),
            (554, "5.7.1 Your account has been blocked", AccountBlocked),
            (550, "5.7.1 Sender account suspended for sending too many messages", AccountBlocked),
            (554, "Ihr Konto ist gesperrt", AccountBlocked),
            (535, "5.7.8 Error: authentication failed", Other),
            (450, "4.7.1 Greylisted (test): please try again later", Other),
            (450, "4.7.1 Greylisted (test): retried too soon, please try again later", Other),
            (450, "4.2.0 <a@k.test>: Recipient address rejected: Greylisted, see http://postgrey", Other),
            (421, "4.7.28 Our system has detected an unusual rate of unsolicited mail", Throttle),
            (421, "4.7.0 Try again later, closing connection.", Other),
            (550, "5.1.1 <a@k.test>: Recipient address rejected: User unknown", Other),
            (550, "5.2.1 Mailbox disabled, not accepting messages", Other),
            (554, "5.7.1 <a@k.test>: Relay access denied", Other),
            (451, "4.3.0 Temporary lookup failure; separately generated", Other),
        ];
        for (code, text, want) in cases {
            // The enhanced code as the SMTP layer reads it from the reply.
            let reply = crate::smtp::Reply { code: *code, lines: vec![text.to_string()] };
            assert_eq!(classify(*code, reply.enhanced(), &reply.text()), *want, "{code} {text}");
        }
    }

    /// A queue of 50 under 10 per minute, driven over simulated time: never more than 10 in any
    /// minute, and all 50 gone within the fifth minute.
    #[tokio::test(start_paused = true)]
    async fn ten_per_minute_holds_under_a_queue_of_fifty() {
        let start = tokio::time::Instant::now();
        let base = 1_700_000_000;
        let clock = || base + start.elapsed().as_secs() as i64;
        let limits = lim(Some(10), None, None);
        let mut sends: Vec<i64> = Vec::new();
        while sends.len() < 50 {
            let now = clock();
            match next_send(&[Window { limits, sends: &sends, adaptive: None }], now) {
                Pace::Now => sends.push(now),
                Pace::HeldUntil(t) => {
                    assert!(t > now);
                    tokio::time::sleep(std::time::Duration::from_secs((t - now) as u64)).await;
                }
            }
        }
        for (i, s) in sends.iter().enumerate() {
            let in_minute = sends[..=i].iter().filter(|x| **x > s - MINUTE).count();
            assert!(in_minute <= 10, "{in_minute} sends in the minute up to {s}");
        }
        assert_eq!(sends[9] - sends[0], 0, "the first ten go at once");
        assert_eq!(sends[10] - sends[0], 60, "the eleventh waits for the first to leave the minute");
        assert_eq!(sends[49] - sends[0], 240, "fifty take four minutes, not more");
    }

    /// A throttle in the middle of a drain, over simulated time: the rate halves, recovers, and
    /// the queue still drains completely.
    #[tokio::test(start_paused = true)]
    async fn a_throttle_slows_the_drain_and_it_still_finishes() {
        let start = tokio::time::Instant::now();
        let base = 1_700_000_000;
        let clock = || base + start.elapsed().as_secs() as i64;
        let mut sends: Vec<i64> = Vec::new();
        let mut adaptive: Option<Adaptive> = None;
        let mut answered = 0;
        while sends.len() < 40 {
            let now = clock();
            match next_send(&[Window { limits: RateLimits::default(), sends: &sends, adaptive }], now) {
                Pace::Now => {
                    answered += 1;
                    if answered == 5 {
                        // The provider says "451 too many": this one was not taken.
                        adaptive = Some(throttled(adaptive, &RateLimits::default(), &sends, now));
                    } else {
                        sends.push(now);
                    }
                }
                Pace::HeldUntil(t) => tokio::time::sleep(std::time::Duration::from_secs((t - now) as u64)).await,
            }
        }
        let a = adaptive.unwrap();
        assert_eq!(a.interval, MIN_INTERVAL, "four sends within one second, halved: at most one a second");
        assert_eq!(sends[..4], [base; 4], "before the throttle: as fast as it goes");
        let gaps: Vec<i64> = sends.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[3..].iter().all(|g| *g >= 1), "after the throttle the sends are spaced: {gaps:?}");
        // A second throttle later halves again from the interval in effect.
        let b = throttled(adaptive, &RateLimits::default(), &sends, clock());
        assert_eq!(b.interval, 2.0);
        assert_eq!(sends.len(), 40, "nothing lost");
    }
}
