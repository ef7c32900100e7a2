//! Draining one mailbox's due messages through one reused SMTP connection.
//!
//! The order of writes is the crash-safety argument: `outbox_begin` commits `sending` before
//! MAIL FROM; `outbox_finish` commits each recipient's answer and the message's new state
//! after the reply to the final "."; a connection that breaks after the "." went out makes
//! the message `unknown`, never `deferred`. The gate is checked before every message, so a
//! session that ends mid-drain lets the message in flight finish and starts no other.
//! Cancellation is honoured only between messages. What a failure means is decided by
//! `retry::next`; this module only applies it.
//!
//! Pacing (`rate`) is asked before every envelope: when a transport's or a login's limit is
//! reached, the mailbox's waiting messages are held until the time it names and the drain
//! stops. An envelope is counted in the store before it goes out. A message with more
//! recipients than a limit allows goes out as several envelopes with the same bytes; each
//! envelope's recipients are recorded as soon as its answer is in, so a crash between
//! envelopes never sends anyone a second copy. A throttling answer slows the transport down;
//! an answer saying the account is blocked pauses the mailbox like a refused login, puts a
//! notice into its INBOX, and fails nobody.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::compose::NoticeLine;
use super::pacing::{self, Pacing, blocked};
use super::rate::{self, Pace, ReplyClass};
use super::retry::{self, Decision, Failure};
use super::{gate, notify_failed};
use crate::app::App;
use crate::config::{Mailbox, Transport};
use crate::smtp::{Endpoint, Reply, SendError, SendReport, Session, SmtpError, Transcript};
use crate::store::outbox::{AttemptResult, DueMessage, Pause, RcptOutcome};
use crate::store::{StoreError, now};

/// Why waiting messages of a mailbox are not being sent, in words for `queue list`.
pub const GATE_CLOSED: &str = "waiting for an office session to log in (send_while = \"session\")";

/// The server and login a mailbox sends with.
pub fn endpoint(app: &App, mb: &Mailbox) -> Endpoint {
    let s = app.config.smtp_server(mb);
    let (login, password) = match (mb.transport, &mb.smtp) {
        (Transport::Direct, Some(smtp)) => (smtp.login.clone(), smtp.password.clone()),
        // Relay, or a direct mailbox without its own login (refused by config validation).
        _ => (mb.login.clone(), mb.password.clone()),
    };
    Endpoint { host: s.host.clone(), port: s.port, tls: s.tls, ca_file: s.ca_file.clone(), login, password }
}

/// "smtp.bau-firma.de:587 (direct)", the server column of the audit trail.
pub fn server_label(ep: &Endpoint, t: Transport) -> String {
    format!("{} ({})", ep.name(), t.as_str())
}

/// The envelope sender: the company address on the direct path, the hosted address on the
/// relay (whose SPF the company can authorise, as the vendor article describes).
pub fn envelope_from<'a>(mb: &'a Mailbox, from_header: &'a str) -> &'a str {
    match mb.transport {
        Transport::Direct => from_header,
        Transport::Relay => &mb.hosted_address,
    }
}

/// A salted hash of login and password: a pause is lifted when it changes. Never the password.
pub fn fingerprint(salt: &str, ep: &Endpoint) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(ep.login.as_bytes());
    h.update([0]);
    h.update(ep.password.expose().as_bytes());
    hex::encode(h.finalize())
}

/// DKIM signing by postbote itself, when the mailbox has `[mailbox.dkim]`; otherwise the
/// message unchanged. The Sent copy stays unsigned (it is the queued bytes).
pub fn sign_if_configured(mb: &Mailbox, raw: &[u8]) -> Result<Vec<u8>, crate::dkim::DkimError> {
    match &mb.dkim {
        None => Ok(raw.to_vec()),
        Some(d) => crate::dkim::sign(d, raw),
    }
}

fn transcript(app: &App, mb: &Mailbox, ep: &Endpoint) -> Option<Transcript> {
    let server = app.config.smtp_server(mb);
    if !transcripts_on(server) {
        return None;
    }
    let dir = app.config.agent.data_dir.join("transcripts");
    match Transcript::create(&dir, &mb.id, &ep.name(), &ep.login, ep.password.expose()) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(mailbox = %mb.id, error = %e, "cannot write an SMTP transcript under {}", dir.display());
            None
        }
    }
}

/// Transcripts are on, and `log_sessions_until` (if set) has not passed.
pub fn transcripts_on(s: &crate::config::SmtpServer) -> bool {
    s.log_sessions && s.log_sessions_until.is_none_or(|u| chrono::Utc::now() < u)
}

/// Send the mailbox's due messages while the gate is open. Returns how many were attempted.
pub async fn drain(app: &App, mb: &Mailbox, token: &CancellationToken) -> Result<usize, StoreError> {
    let store = &app.store;
    let ep = endpoint(app, mb);
    let label = server_label(&ep, mb.transport);
    let schedule = &app.config.outbox.retry_schedule;
    let max_per_conn = app.config.outbox.max_messages_per_connection;

    if let Some(p) = store.outbox_pause(&mb.id)? {
        if fingerprint(&p.salt, &ep) == p.fingerprint {
            let why = if p.reason.starts_with(BLOCKED) {
                format!("paused: {}; once the provider unblocks it, run `postbote queue retry ID`", p.reason)
            } else {
                format!("paused: {} refused the login; fix the password, then run `postbote queue retry ID`", ep.name())
            };
            store.outbox_mark_waiting(&mb.id, Some(&why), now())?;
            return Ok(0);
        }
        tracing::info!(mailbox = %mb.id, "the outgoing login changed since it was refused: sending again");
        store.outbox_clear_pause(&mb.id)?;
    }

    let pacing = Pacing::of(app, mb, &ep);
    let mut session: Option<Session> = None;
    let mut on_conn = 0u32;
    let mut attempted = 0;
    loop {
        if token.is_cancelled() {
            break;
        }
        if !gate::is_open(app, mb.transport)? {
            store.outbox_mark_waiting(&mb.id, Some(GATE_CLOSED), now())?;
            break;
        }
        let Some(m) = store.outbox_next(&mb.id, now())? else { break };
        if m.pending.is_empty() {
            // Every recipient was settled earlier (e.g. by `queue retry` of a sent message).
            let status = if m.already_sent > 0 { "sent" } else { "failed" };
            store.outbox_begin(m.id)?;
            store.outbox_finish(
                m.id,
                &AttemptResult {
                    server: label.clone(),
                    recipients: vec![],
                    notes: vec![],
                    status,
                    due_at: None,
                    last_error: None,
                },
            )?;
            continue;
        }
        if let Pace::HeldUntil(t) = pacing.pace(app, now())? {
            pacing.hold(app, mb, t)?;
            break;
        }
        if session.as_ref().is_none_or(|s| !s.usable()) || on_conn >= max_per_conn {
            if let Some(s) = session.take() {
                s.quit().await;
            }
            on_conn = 0;
            match Session::connect(&ep, transcript(app, mb, &ep)).await {
                Ok(s) => session = Some(s),
                Err(e @ SmtpError::Auth { .. }) => {
                    let code = e.code().map(i64::from);
                    let text = e.to_string();
                    tracing::warn!(mailbox = %mb.id, error = %text, "outgoing login refused: sending paused for this mailbox");
                    let salt = super::random_hex(8);
                    store.outbox_set_pause(&Pause {
                        account: mb.id.clone(),
                        transport: mb.transport.as_str().into(),
                        reason: text.clone(),
                        at: now(),
                        fingerprint: fingerprint(&salt, &ep),
                        salt,
                    })?;
                    store.outbox_note(
                        m.id,
                        &label,
                        code,
                        &format!("{text}: sending paused until the password is fixed"),
                    )?;
                    let why = format!(
                        "paused: {} refused the login; fix the password, then run `postbote queue retry ID`",
                        ep.name()
                    );
                    store.outbox_mark_waiting(&mb.id, Some(&why), now())?;
                    break;
                }
                Err(e) => {
                    let attempts = (m.attempts + 1) as u32;
                    let failure = match (&e, e.code()) {
                        // "421 4.7.0 Too many connections" in the greeting: slow the transport down too.
                        (SmtpError::Refused { reply, .. }, Some(c)) => {
                            let text = reply.strip_prefix(&c.to_string()).unwrap_or(reply).trim().to_string();
                            let r = Reply { code: c, lines: vec![text] };
                            if failure_of(&r) == Failure::Throttle {
                                pacing.throttled(app, mb, &r)?;
                                Failure::Throttle
                            } else {
                                Failure::Reply(c)
                            }
                        }
                        (_, Some(c)) => Failure::Reply(c),
                        (_, None) => Failure::Connection,
                    };
                    let delay = match retry::next(attempts, &failure, schedule) {
                        Decision::RetryAfter(d) => d,
                        // A 5xx greeting or EHLO is the server's state, not the message's fault.
                        _ => schedule.last().copied().unwrap_or(Duration::from_secs(4 * 3600)),
                    };
                    tracing::warn!(mailbox = %mb.id, error = %e, retry_in_s = delay.as_secs(), "no SMTP session");
                    store.outbox_defer_due(&mb.id, now(), now() + delay.as_secs() as i64, &label, &e.to_string())?;
                    break;
                }
            }
        }
        // A key that cannot sign is the mailbox's problem, not one message's: like a server
        // that cannot be reached, everything due waits (unsigned mail would fail DMARC).
        let raw = match sign_if_configured(mb, &m.raw) {
            Ok(raw) => raw,
            Err(e) => {
                let delay = match retry::next((m.attempts + 1) as u32, &Failure::Connection, schedule) {
                    Decision::RetryAfter(d) => d,
                    _ => Duration::from_secs(3600),
                };
                let text = format!(
                    "DKIM signing failed: {e}; fix [mailbox.dkim] (mail waits, unsigned mail would fail DMARC)"
                );
                tracing::warn!(mailbox = %mb.id, error = %text, "not sending");
                store.outbox_defer_due(&mb.id, now(), now() + delay.as_secs() as i64, "postbote", &text)?;
                break;
            }
        };
        let s = session.as_mut().expect("connected above");
        if !store.outbox_begin_counted(m.id, &pacing.keys, now())? {
            continue;
        }
        attempted += 1;
        on_conn += 1;
        let per_envelope = rate::recipients_per_envelope(&pacing.limits).unwrap_or(usize::MAX);
        let mut envelopes: Vec<AttemptResult> = Vec::new();
        let mut signal = Signal::Fine;
        let mut held = None;
        let mut left: &[String] = &m.pending;
        loop {
            let (these, rest) = left.split_at(per_envelope.min(left.len()));
            left = rest;
            let res = s.send(envelope_from(mb, &m.from_addr), these, &raw).await;
            let part = DueMessage { pending: these.to_vec(), ..m.clone() };
            let (result, failed, sig) = outcome(&part, &res, schedule, now(), &label);
            if !failed.is_empty()
                && let Err(e) = notify_failed(app, mb, m.id, &failed, false)
            {
                tracing::warn!(mailbox = %mb.id, id = m.id, error = %e, "could not store the failure notice");
            }
            signal = signal.max(sig);
            let stop = left.is_empty() || res.is_err() || signal != Signal::Fine || !s.usable();
            envelopes.push(result);
            if stop {
                break;
            }
            // Between envelopes: this one's recipients are recorded before the next goes out.
            let last = envelopes.last().expect("pushed above");
            store.outbox_finish(m.id, &AttemptResult { status: "sending", due_at: None, ..last.clone() })?;
            if let Pace::HeldUntil(t) = pacing.pace(app, now())? {
                held = Some(t);
                break;
            }
            store.outbox_log_send(&pacing.keys, m.id, now())?;
        }
        let mut result = combine(&m, envelopes, held, now());
        if let Some(t) = held {
            // The last envelope's answers are recorded already (before pacing was asked).
            result.recipients.clear();
            result.notes = vec![(
                None,
                format!("the other recipients wait: {}", pacing::held_text(app.config.agent.time_zone, t, now())),
            )];
        }
        store.outbox_finish(m.id, &result)?;
        tracing::debug!(mailbox = %mb.id, id = m.id, status = result.status, "attempt recorded");
        match signal {
            Signal::Fine => {}
            Signal::Throttled(reply) => pacing.throttled(app, mb, &reply)?,
            Signal::Blocked(reply) => {
                blocked(app, mb, &ep, &label, m.id, &reply)?;
                break;
            }
        }
        if let Some(t) = held {
            pacing.hold(app, mb, t)?;
            break;
        }
    }
    if let Some(s) = session.take() {
        s.quit().await;
    }
    Ok(attempted)
}

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
        status: "deferred",
        due_at: None,
        last_error: None,
    };
    let mut failed = Vec::new();
    let report = match res {
        Err(SendError { after_dot: true, error }) => {
            r.status = "unknown";
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
    let mut apply = |addr: &str, reply: &crate::smtp::Reply, r: &mut AttemptResult| {
        let code = Some(reply.code as i64);
        let failure = failure_of(reply);
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
            apply(a, mf, &mut r);
        }
    } else {
        let accepted: Vec<&String> = report.rcpts.iter().filter(|(_, rp)| rp.is_positive()).map(|(a, _)| a).collect();
        for (a, rp) in &report.rcpts {
            if !rp.is_positive() {
                apply(a, rp, &mut r);
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
                    apply(a, d, &mut r);
                }
            }
            None => {}
        }
    }
    if !delays.is_empty() {
        let d = delays.into_iter().min().unwrap_or(Duration::from_secs(60));
        r.status = "deferred";
        r.due_at = Some(at + d.as_secs() as i64);
        r.last_error = r.recipients.iter().find(|x| x.1 == RcptOutcome::Deferred).map(|x| format!("{}: {}", x.0, x.3));
    } else if sent_now > 0 || m.already_sent > 0 {
        r.status = "sent";
        r.last_error = r.recipients.iter().find(|x| x.1 == RcptOutcome::Failed).map(|x| format!("{}: {}", x.0, x.3));
    } else {
        r.status = "failed";
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

/// What kind of failure a negative answer is, for `retry::next`.
pub fn failure_of(reply: &Reply) -> Failure {
    match rate::classify(reply.code, reply.enhanced(), &reply.text()) {
        ReplyClass::Throttle => Failure::Throttle,
        ReplyClass::AccountBlocked => Failure::AccountBlocked,
        ReplyClass::Other => Failure::Reply(reply.code),
    }
}

/// One attempt's envelopes (one, or several for a split message) as the message's new state.
/// `held`: pacing stopped the attempt before the remaining recipients' envelope. Pure.
pub fn combine(m: &DueMessage, mut envelopes: Vec<AttemptResult>, held: Option<i64>, at: i64) -> AttemptResult {
    let mut last = envelopes.pop().expect("an attempt has at least one envelope");
    let covered = last.recipients.len() == m.pending.len();
    if envelopes.is_empty() && held.is_none() && (covered || last.status == "unknown") {
        return last;
    }
    let all = || envelopes.iter().chain(std::iter::once(&last)).flat_map(|e| e.recipients.iter());
    let sent = all().filter(|r| r.1 == RcptOutcome::Sent).count() as i64 + m.already_sent;
    let settled = all().filter(|r| r.1 != RcptOutcome::Deferred).count();
    let error = last.last_error.clone().or_else(|| envelopes.iter().rev().find_map(|e| e.last_error.clone()));
    if last.status == "unknown" {
        last.last_error = error;
        return last;
    }
    if settled < m.pending.len() {
        let due = envelopes.iter().chain(std::iter::once(&last)).filter_map(|e| e.due_at).chain(held).min();
        last.status = "deferred";
        last.due_at = Some(due.unwrap_or(at));
    } else {
        last.status = if sent > 0 { "sent" } else { "failed" };
        last.due_at = None;
    }
    last.last_error = error;
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::Reply;

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
        assert_eq!((r.status, r.due_at), ("deferred", Some(1060)));
        assert_eq!(failed.len(), 1);

        // The greylisted one later goes through: the message is sent (one failure noted).
        let m = msg(&["greylist@k.test"], 1, 1);
        let report =
            SendReport { mail_from: None, rcpts: vec![("greylist@k.test".into(), rp(250))], data: Some(rp(250)) };
        assert_eq!(outcome(&m, &Ok(report), &sched, 2000, "s").0.status, "sent");
    }

    #[test]
    fn broken_connection_before_and_after_the_dot() {
        let m = msg(&["a@k.test"], 2, 0);
        let err = |after_dot| SendError {
            after_dot,
            error: SmtpError::Connection { server: "s".into(), message: "reset".into() },
        };
        let (r, _, _) = outcome(&m, &Err(err(true)), &crate::outbox::retry::DEFAULT_SCHEDULE, 0, "s");
        assert_eq!(r.status, "unknown", "after the dot the server may have it: never resend silently");
        let (r, _, _) = outcome(&m, &Err(err(false)), &crate::outbox::retry::DEFAULT_SCHEDULE, 0, "s");
        assert_eq!((r.status, r.due_at), ("deferred", Some(15 * 60)), "third attempt waits 15 min");
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
        assert_eq!((r.status, r.due_at, failed.len()), ("deferred", Some(1060), 0));
        assert!(matches!(sig, Signal::Throttled(_)));
        // A 5xx that means rate is a throttle too: nobody fails.
        let report = SendReport {
            mail_from: None,
            rcpts: vec![("a@k.test".into(), rpt(250, "ok")), ("b@k.test".into(), rpt(250, "ok"))],
            data: Some(rpt(550, "5.4.5 Daily user sending quota exceeded.")),
        };
        let (r, failed, sig) = outcome(&m, &Ok(report), &sched, 1000, "s");
        assert_eq!((r.status, failed.len()), ("deferred", 0));
        assert!(matches!(sig, Signal::Throttled(_)));
        // The account is blocked: nobody fails, the pause decides.
        let report =
            SendReport { mail_from: Some(rpt(554, "5.7.1 Your account has been blocked")), rcpts: vec![], data: None };
        let (r, failed, sig) = outcome(&m, &Ok(report), &sched, 1000, "s");
        assert_eq!((r.status, failed.len()), ("deferred", 0));
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
        assert_eq!((r.status, r.due_at, sig), ("deferred", Some(1000 + 600), Signal::Fine));
        assert_eq!(
            Signal::Fine.max(Signal::Throttled(rpt(451, "x"))).max(Signal::Fine),
            Signal::Throttled(rpt(451, "x"))
        );
        assert!(matches!(Signal::Throttled(rpt(451, "x")).max(Signal::Blocked(rpt(554, "y"))), Signal::Blocked(_)));
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
            env(vec![sent("a@k.test")], "sent", None),
            env(vec![sent("b@k.test")], "sent", None),
            env(vec![sent("c@k.test")], "sent", None),
        ];
        assert_eq!(combine(&m, e, None, 5).status, "sent");
        // Pacing held the third envelope: the message waits until then, the first two are done.
        let e = vec![env(vec![sent("a@k.test")], "sent", None), env(vec![sent("b@k.test")], "sent", None)];
        let r = combine(&m, e, Some(500), 5);
        assert_eq!((r.status, r.due_at), ("deferred", Some(500)));
        // A greylisted recipient in the first envelope: the earliest due wins.
        let grey = ("a@k.test".to_string(), RcptOutcome::Deferred, Some(450), "later".to_string());
        let e = vec![
            env(vec![grey], "deferred", Some(65)),
            env(vec![sent("b@k.test")], "sent", None),
            env(vec![sent("c@k.test")], "sent", None),
        ];
        assert_eq!(combine(&m, e, None, 5).due_at, Some(65));
        // The connection broke after the dot of the second envelope: unknown.
        let e = vec![env(vec![sent("a@k.test")], "sent", None), env(vec![], "unknown", None)];
        assert_eq!(combine(&m, e, None, 5).status, "unknown");
        // Every recipient failed: failed.
        let fail = |a: &str| (a.to_string(), RcptOutcome::Failed, Some(550), "no".to_string());
        let e = vec![
            env(vec![fail("a@k.test"), fail("b@k.test")], "failed", None),
            env(vec![fail("c@k.test")], "failed", None),
        ];
        assert_eq!(combine(&m, e, None, 5).status, "failed");
    }

    #[test]
    fn transcripts_switch_off_by_themselves() {
        let mut s = crate::config::SmtpServer {
            host: "h".into(),
            port: 587,
            tls: crate::config::Tls::StartTls,
            ca_file: None,
            send_while: crate::config::SendWhile::Session,
            log_sessions: true,
            log_sessions_until: None,
            limits: crate::config::RateLimits::default(),
        };
        assert!(transcripts_on(&s));
        s.log_sessions_until = Some(chrono::Utc::now() + chrono::Duration::hours(1));
        assert!(transcripts_on(&s));
        s.log_sessions_until = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
        assert!(!transcripts_on(&s), "past log_sessions_until nothing is recorded");
        s.log_sessions = false;
        s.log_sessions_until = None;
        assert!(!transcripts_on(&s));
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
        assert_eq!((r.status, failed.len()), ("failed", 2));
        let report = SendReport {
            mail_from: None,
            rcpts: vec![("a@k.test".into(), rp(250)), ("b@k.test".into(), rp(250))],
            data: Some(rp(552)),
        };
        let (r, failed, _) = outcome(&m, &Ok(report), &[], 0, "s");
        assert_eq!((r.status, failed.len()), ("failed", 2));
        let report = SendReport { mail_from: Some(rp(451)), rcpts: vec![], data: None };
        assert_eq!(outcome(&m, &Ok(report), &[], 0, "s").0.status, "deferred");
    }
}
