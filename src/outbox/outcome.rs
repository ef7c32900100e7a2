//! What one attempt's answers mean: the pure step between the SMTP dialogue and the store.
//!
//! [`outcome`] turns one envelope's replies into each recipient's state and the message's
//! next [`State`]; [`combine`] folds the envelopes of a split message into one; [`Signal`]
//! says what the answers ask of the whole transport or login (slow down, or pause the
//! mailbox). A failure is classified by the stage it came at ([`Stage`]): a recipient
//! refused at RCPT is that recipient's failure whatever its words, while "account blocked"
//! at MAIL FROM or in the final answer to DATA pauses the mailbox (a refused login or
//! greeting is `send`'s). No I/O and no clock: table-tested below.

use std::time::Duration;

use super::compose::NoticeLine;
use super::rate::{self, ReplyClass};
use super::retry::{self, Decision, Failure};
use crate::smtp::{Reply, SendError, SendReport};
use crate::store::outbox::{AttemptResult, DueMessage, RcptOutcome, State};

/// Turn one attempt's replies into recipient states and the message's next state. Pure.
pub fn outcome(
    m: &DueMessage,
    res: &Result<SendReport, SendError>,
    schedule: &[Duration],
    at: i64,
    server: &str,
) -> (AttemptResult, Vec<NoticeLine>, Signal) {
    let attempts = (m.attempts + 1) as u32;
    let mut r = AttemptResult {
        server: server.into(),
        recipients: vec![],
        notes: vec![],
        status: State::Deferred,
        due_at: None,
        last_error: None,
    };
    let mut failed = Vec::new();
    let report = match res {
        Err(SendError { after_dot: true, error }) => {
            r.status = State::Unknown;
            r.last_error = Some(format!("{error} after the whole message was handed over"));
            r.notes.push((
                None,
                format!("{error}: the message had been handed over, so it may have been delivered; it is not sent again by itself"),
            ));
            return (r, failed, Signal::Fine);
        }
        Err(SendError { after_dot: false, error }) => {
            let d = match retry::next(attempts, &Failure::Connection, schedule) {
                Decision::RetryAfter(d) => d,
                _ => Duration::from_secs(3600),
            };
            r.due_at = Some(at + d.as_secs() as i64);
            r.last_error = Some(error.to_string());
            r.notes.push((None, format!("{error}; next attempt in {}", human(d))));
            return (r, failed, Signal::Fine);
        }
        Ok(report) => report,
    };

    let mut delays = Vec::new();
    let mut signal = Signal::Fine;
    let mut apply = |addr: &str, stage: Stage, reply: &crate::smtp::Reply, r: &mut AttemptResult| {
        let code = Some(reply.code as i64);
        let failure = failure_at(stage, reply);
        match &failure {
            Failure::Throttle => signal = signal.clone().max(Signal::Throttled(reply.clone())),
            Failure::AccountBlocked => signal = signal.clone().max(Signal::Blocked(reply.clone())),
            _ => {}
        }
        match retry::next(attempts, &failure, schedule) {
            Decision::Fail => {
                r.recipients.push((addr.into(), RcptOutcome::Failed, code, reply.summary()));
                failed.push(NoticeLine { recipient: addr.into(), reply: reply.summary() });
            }
            Decision::RetryAfter(d) => {
                delays.push(d);
                r.recipients.push((
                    addr.into(),
                    RcptOutcome::Deferred,
                    code,
                    format!("{}; next attempt in {}", reply.summary(), human(d)),
                ));
            }
            Decision::Pause => {
                // The account is blocked: the recipient is not at fault and stays pending.
                delays.push(Duration::ZERO);
                r.recipients.push((
                    addr.into(),
                    RcptOutcome::Deferred,
                    code,
                    format!("{}; {BLOCKED}", reply.summary()),
                ));
            }
        }
    };
    let mut sent_now = 0;
    if let Some(mf) = &report.mail_from {
        r.notes.push((Some(mf.code as i64), format!("MAIL FROM refused: {}", mf.summary())));
        for a in &m.pending {
            apply(a, Stage::MailFrom, mf, &mut r);
        }
    } else {
        let accepted: Vec<&String> = report.rcpts.iter().filter(|(_, rp)| rp.is_positive()).map(|(a, _)| a).collect();
        for (a, rp) in &report.rcpts {
            if !rp.is_positive() {
                apply(a, Stage::Rcpt, rp, &mut r);
            }
        }
        match &report.data {
            Some(d) if d.is_positive() => {
                for a in &accepted {
                    r.recipients.push((
                        (*a).clone(),
                        RcptOutcome::Sent,
                        Some(d.code as i64),
                        format!("delivered: {}", d.summary()),
                    ));
                    sent_now += 1;
                }
            }
            Some(d) => {
                for a in &accepted {
                    apply(a, Stage::Data, d, &mut r);
                }
            }
            None => {}
        }
    }
    if !delays.is_empty() {
        let d = delays.into_iter().min().unwrap_or(Duration::from_secs(60));
        r.status = State::Deferred;
        r.due_at = Some(at + d.as_secs() as i64);
        r.last_error = r.recipients.iter().find(|x| x.1 == RcptOutcome::Deferred).map(|x| format!("{}: {}", x.0, x.3));
    } else if sent_now > 0 || m.already_sent > 0 {
        r.status = State::Sent;
        r.last_error = r.recipients.iter().find(|x| x.1 == RcptOutcome::Failed).map(|x| format!("{}: {}", x.0, x.3));
    } else {
        r.status = State::Failed;
        r.last_error = r.recipients.iter().find(|x| x.1 == RcptOutcome::Failed).map(|x| format!("{}: {}", x.0, x.3));
    }
    (r, failed, signal)
}

/// "5 min", "2 h", "30 s".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// The start of a pause's reason when the provider blocked the account (not a refused login).
pub const BLOCKED: &str = "the provider blocked the sending account";

/// What one envelope's answers ask of the whole transport or login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    Fine,
    /// A throttling answer: slow the transport down.
    Throttled(Reply),
    /// The account is blocked: pause the mailbox and tell its people.
    Blocked(Reply),
}

impl Signal {
    fn rank(&self) -> u8 {
        match self {
            Signal::Fine => 0,
            Signal::Throttled(_) => 1,
            Signal::Blocked(_) => 2,
        }
    }

    /// The graver of two (the first of equals).
    pub fn max(self, other: Signal) -> Signal {
        if other.rank() > self.rank() { other } else { self }
    }
}

/// Where in the SMTP dialogue a negative answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The greeting or EHLO: the server's state (a refused AUTH is `SmtpError::Auth`).
    Greeting,
    /// MAIL FROM: about the sender, so about the sending account.
    MailFrom,
    /// RCPT TO: about one recipient.
    Rcpt,
    /// The answer to the whole message after DATA.
    Data,
}

/// What kind of failure a negative answer at `stage` is, for `retry::next`. An answer saying
/// an account is blocked pauses the mailbox only where it can be about the sending account:
/// at RCPT it is about that recipient's ("550 5.7.1 account disabled" is a mailbox that no
/// longer takes mail), so it is that recipient's failure and nobody else waits for it.
pub fn failure_at(stage: Stage, reply: &Reply) -> Failure {
    match rate::classify(reply.code, reply.enhanced(), &reply.text()) {
        ReplyClass::Throttle => Failure::Throttle,
        ReplyClass::AccountBlocked if stage == Stage::Rcpt => Failure::Reply(reply.code),
        ReplyClass::AccountBlocked => Failure::AccountBlocked,
        ReplyClass::Other => Failure::Reply(reply.code),
    }
}

/// One attempt's envelopes (one, or several for a split message) as the message's new state.
/// `held`: pacing stopped the attempt before the remaining recipients' envelope. Pure.
pub fn combine(m: &DueMessage, mut envelopes: Vec<AttemptResult>, held: Option<i64>, at: i64) -> AttemptResult {
    let mut last = envelopes.pop().expect("an attempt has at least one envelope");
    let covered = last.recipients.len() == m.pending.len();
    if envelopes.is_empty() && held.is_none() && (covered || last.status == State::Unknown) {
        return last;
    }
    let all = || envelopes.iter().chain(std::iter::once(&last)).flat_map(|e| e.recipients.iter());
    let sent = all().filter(|r| r.1 == RcptOutcome::Sent).count() as i64 + m.already_sent;
    let settled = all().filter(|r| r.1 != RcptOutcome::Deferred).count();
    let error = last.last_error.clone().or_else(|| envelopes.iter().rev().find_map(|e| e.last_error.clone()));
    if last.status == State::Unknown {
        last.last_error = error;
        return last;
    }
    if settled < m.pending.len() {
        let due = envelopes.iter().chain(std::iter::once(&last)).filter_map(|e| e.due_at).chain(held).min();
        last.status = State::Deferred;
        last.due_at = Some(due.unwrap_or(at));
    } else {
        last.status = if sent > 0 { State::Sent } else { State::Failed };
        last.due_at = None;
    }
    last.last_error = error;
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{Reply, SmtpError};

    fn msg(pending: &[&str], attempts: i64, already_sent: i64) -> DueMessage {
        DueMessage {
            id: 1,
            account: "a".into(),
            message_id: "m@x".into(),
            from_addr: "a@x.test".into(),
            raw: vec![],
            attempts,
            pending: pending.iter().map(|s| s.to_string()).collect(),
            already_sent,
        }
    }
    fn rp(code: u16) -> Reply {
        Reply { code, lines: vec!["text".into()] }
    }

    #[test]
    fn one_refused_recipient_does_not_sink_the_others() {
        let m = msg(&["ok@k.test", "reject@k.test", "greylist@k.test"], 0, 0);
        let report = SendReport {
            mail_from: None,
            rcpts: vec![
                ("ok@k.test".into(), rp(250)),
                ("reject@k.test".into(), rp(550)),
                ("greylist@k.test".into(), rp(450)),
            ],
            data: Some(rp(250)),
        };
        let sched = [Duration::from_secs(60)];
        let (r, failed, _) = outcome(&m, &Ok(report), &sched, 1000, "s");
        let st: Vec<_> = r.recipients.iter().map(|x| (x.0.as_str(), x.1.clone())).collect();
        assert!(st.contains(&("ok@k.test", RcptOutcome::Sent)));
        assert!(st.contains(&("reject@k.test", RcptOutcome::Failed)));
        assert!(st.contains(&("greylist@k.test", RcptOutcome::Deferred)));
        assert_eq!((r.status, r.due_at), (State::Deferred, Some(1060)));
        assert_eq!(failed.len(), 1);

        // The greylisted one later goes through: the message is sent (one failure noted).
        let m = msg(&["greylist@k.test"], 1, 1);
        let report =
            SendReport { mail_from: None, rcpts: vec![("greylist@k.test".into(), rp(250))], data: Some(rp(250)) };
        assert_eq!(outcome(&m, &Ok(report), &sched, 2000, "s").0.status, State::Sent);
    }

    #[test]
    fn broken_connection_before_and_after_the_dot() {
        let m = msg(&["a@k.test"], 2, 0);
        let err = |after_dot| SendError {
            after_dot,
            error: SmtpError::Connection { server: "s".into(), message: "reset".into() },
        };
        let (r, _, _) = outcome(&m, &Err(err(true)), &crate::outbox::retry::DEFAULT_SCHEDULE, 0, "s");
        assert_eq!(r.status, State::Unknown, "after the dot the server may have it: never resend silently");
        let (r, _, _) = outcome(&m, &Err(err(false)), &crate::outbox::retry::DEFAULT_SCHEDULE, 0, "s");
        assert_eq!((r.status, r.due_at), (State::Deferred, Some(15 * 60)), "third attempt waits 15 min");
    }

    fn rpt(code: u16, text: &str) -> Reply {
        Reply { code, lines: vec![text.into()] }
    }

    #[test]
    fn throttling_and_blocked_answers_fail_nobody() {
        let m = msg(&["a@k.test", "b@k.test"], 3, 0);
        let sched = [Duration::from_secs(60), Duration::from_secs(600)];
        // "451 too many" at MAIL FROM: both wait the first interval (not the fourth), and the
        // transport is told to slow down.
        let report = SendReport { mail_from: Some(rpt(451, "4.7.1 Too many messages")), rcpts: vec![], data: None };
        let (r, failed, sig) = outcome(&m, &Ok(report), &sched, 1000, "s");
        assert_eq!((r.status, r.due_at, failed.len()), (State::Deferred, Some(1060), 0));
        assert!(matches!(sig, Signal::Throttled(_)));
        // A 5xx that means rate is a throttle too: nobody fails.
        let report = SendReport {
            mail_from: None,
            rcpts: vec![("a@k.test".into(), rpt(250, "ok")), ("b@k.test".into(), rpt(250, "ok"))],
            data: Some(rpt(550, "5.4.5 Daily user sending quota exceeded.")),
        };
        let (r, failed, sig) = outcome(&m, &Ok(report), &sched, 1000, "s");
        assert_eq!((r.status, failed.len()), (State::Deferred, 0));
        assert!(matches!(sig, Signal::Throttled(_)));
        // The account is blocked: nobody fails, the pause decides.
        let report =
            SendReport { mail_from: Some(rpt(554, "5.7.1 Your account has been blocked")), rcpts: vec![], data: None };
        let (r, failed, sig) = outcome(&m, &Ok(report), &sched, 1000, "s");
        assert_eq!((r.status, failed.len()), (State::Deferred, 0));
        assert!(r.recipients.iter().all(|x| x.1 == RcptOutcome::Deferred));
        assert!(matches!(sig, Signal::Blocked(_)));
        // A greylisted recipient is not a transport-wide throttle.
        let report = SendReport {
            mail_from: None,
            rcpts: vec![
                ("a@k.test".into(), rpt(450, "4.7.1 Greylisted (test): please try again later")),
                ("b@k.test".into(), rpt(250, "ok")),
            ],
            data: Some(rpt(250, "ok")),
        };
        let (r, _, sig) = outcome(&m, &Ok(report), &sched, 1000, "s");
        assert_eq!((r.status, r.due_at, sig), (State::Deferred, Some(1000 + 600), Signal::Fine));
        assert_eq!(
            Signal::Fine.max(Signal::Throttled(rpt(451, "x"))).max(Signal::Fine),
            Signal::Throttled(rpt(451, "x"))
        );
        assert!(matches!(Signal::Throttled(rpt(451, "x")).max(Signal::Blocked(rpt(554, "y"))), Signal::Blocked(_)));
    }

    /// Regression: a recipient's mailbox refused at RCPT with words like "account disabled"
    /// paused the whole mailbox and failed nobody. It is that recipient's failure; the others
    /// are delivered, and no pause is asked for. The same words at MAIL FROM still pause.
    #[test]
    fn account_words_at_rcpt_fail_that_recipient_and_pause_nothing() {
        let m = msg(&["gone@k.test", "ok@k.test"], 0, 0);
        let report = SendReport {
            mail_from: None,
            rcpts: vec![
                ("gone@k.test".into(), rpt(550, "5.7.1 <gone@k.test>: account disabled")),
                ("ok@k.test".into(), rpt(250, "ok")),
            ],
            data: Some(rpt(250, "ok")),
        };
        let (r, failed, sig) = outcome(&m, &Ok(report), &[Duration::from_secs(60)], 1000, "s");
        assert_eq!(sig, Signal::Fine, "a recipient's refusal must not pause the mailbox");
        assert_eq!(r.status, State::Sent);
        assert!(r.recipients.contains(&(
            "gone@k.test".into(),
            RcptOutcome::Failed,
            Some(550),
            "550 5.7.1 <gone@k.test>: account disabled".into()
        )));
        assert_eq!(failed.len(), 1);
        let report =
            SendReport { mail_from: Some(rpt(550, "5.7.1 sender account disabled")), rcpts: vec![], data: None };
        let (r, failed, sig) = outcome(&m, &Ok(report), &[Duration::from_secs(60)], 1000, "s");
        assert!(matches!(sig, Signal::Blocked(_)), "{sig:?}");
        assert_eq!((r.status, failed.len()), (State::Deferred, 0));
        assert_eq!(failure_at(Stage::Rcpt, &rpt(554, "5.7.1 account blocked")), Failure::Reply(554));
        assert_eq!(failure_at(Stage::MailFrom, &rpt(554, "5.7.1 account blocked")), Failure::AccountBlocked);
    }

    #[test]
    fn envelopes_of_a_split_message_combine_into_one_state() {
        let sent = |a: &str| (a.to_string(), RcptOutcome::Sent, Some(250), "delivered".to_string());
        let env = |rs: Vec<(String, RcptOutcome, Option<i64>, String)>, status, due| AttemptResult {
            server: "s".into(),
            recipients: rs,
            notes: vec![],
            status,
            due_at: due,
            last_error: None,
        };
        let m = msg(&["a@k.test", "b@k.test", "c@k.test"], 0, 0);
        // All three envelopes delivered: sent.
        let e = vec![
            env(vec![sent("a@k.test")], State::Sent, None),
            env(vec![sent("b@k.test")], State::Sent, None),
            env(vec![sent("c@k.test")], State::Sent, None),
        ];
        assert_eq!(combine(&m, e, None, 5).status, State::Sent);
        // Pacing held the third envelope: the message waits until then, the first two are done.
        let e = vec![env(vec![sent("a@k.test")], State::Sent, None), env(vec![sent("b@k.test")], State::Sent, None)];
        let r = combine(&m, e, Some(500), 5);
        assert_eq!((r.status, r.due_at), (State::Deferred, Some(500)));
        // A greylisted recipient in the first envelope: the earliest due wins.
        let grey = ("a@k.test".to_string(), RcptOutcome::Deferred, Some(450), "later".to_string());
        let e = vec![
            env(vec![grey], State::Deferred, Some(65)),
            env(vec![sent("b@k.test")], State::Sent, None),
            env(vec![sent("c@k.test")], State::Sent, None),
        ];
        assert_eq!(combine(&m, e, None, 5).due_at, Some(65));
        // The connection broke after the dot of the second envelope: unknown.
        let e = vec![env(vec![sent("a@k.test")], State::Sent, None), env(vec![], State::Unknown, None)];
        assert_eq!(combine(&m, e, None, 5).status, State::Unknown);
        // Every recipient failed: failed.
        let fail = |a: &str| (a.to_string(), RcptOutcome::Failed, Some(550), "no".to_string());
        let e = vec![
            env(vec![fail("a@k.test"), fail("b@k.test")], State::Failed, None),
            env(vec![fail("c@k.test")], State::Failed, None),
        ];
        assert_eq!(combine(&m, e, None, 5).status, State::Failed);
    }

    #[test]
    fn all_refused_is_failed_and_data_refusal_applies_to_accepted() {
        let m = msg(&["a@k.test", "b@k.test"], 0, 0);
        let report = SendReport {
            mail_from: None,
            rcpts: vec![("a@k.test".into(), rp(550)), ("b@k.test".into(), rp(553))],
            data: None,
        };
        let (r, failed, _) = outcome(&m, &Ok(report), &[], 0, "s");
        assert_eq!((r.status, failed.len()), (State::Failed, 2));
        let report = SendReport {
            mail_from: None,
            rcpts: vec![("a@k.test".into(), rp(250)), ("b@k.test".into(), rp(250))],
            data: Some(rp(552)),
        };
        let (r, failed, _) = outcome(&m, &Ok(report), &[], 0, "s");
        assert_eq!((r.status, failed.len()), (State::Failed, 2));
        let report = SendReport { mail_from: Some(rp(451)), rcpts: vec![], data: None };
        assert_eq!(outcome(&m, &Ok(report), &[], 0, "s").0.status, State::Deferred);
    }
}
