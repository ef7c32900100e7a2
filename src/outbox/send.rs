//! Draining one mailbox's due messages through one reused SMTP connection.
//!
//! The order of writes is the crash-safety argument: `begin_counted` commits `sending`, with
//! the envelope's recipients in flight, before MAIL FROM; `finish` commits each recipient's
//! answer and the message's new state after the reply to the final "."; a connection that
//! breaks after the "." went out makes the message `unknown`, never `deferred`. The gate is checked before every message, so a
//! session that ends mid-drain lets the message in flight finish and starts no other.
//! Cancellation is honoured only between messages. What a failure means is decided by
//! `retry::next`; this module only applies it.
//!
//! Pacing (`rate`) is asked before every envelope: when a transport's or a login's limit is
//! reached, the mailbox's waiting messages are held until the time it names and the drain
//! stops. An envelope is counted in the store before it goes out. A message with more
//! recipients than a limit allows goes out as several envelopes with the same bytes; each
//! envelope's recipients are settled as soon as its answer is in and the next envelope's are
//! recorded in flight before it goes, so a crash between envelopes sends only to the rest
//! and never anyone a second copy; when pacing holds the rest, only the envelope that went is
//! settled and the others wait, pending. What the answers mean is `outcome`'s. A throttling
//! answer slows the transport down; an answer at MAIL FROM or to the message saying the
//! account is blocked pauses the mailbox like a refused login, puts a notice into its INBOX,
//! and fails nobody.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::outcome::{Signal, Stage, combine, failure_at, outcome};
use super::pacing::{self, Pacing, blocked};
use super::rate::{self, Pace};
use super::retry::{self, Decision, Failure};
use super::{gate, notify_failed};
use crate::app::App;
use crate::config::{Mailbox, Transport};
use crate::smtp::{Endpoint, Reply, Session, SmtpError, Transcript};
use crate::store::outbox::{AttemptResult, DueMessage, State};
use crate::store::outbox_list::Pause;
use crate::store::{StoreError, now};

pub use super::outcome::BLOCKED;

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
    if !super::logging::on_now(app, mb.transport) {
        return None;
    }
    let dir = super::logging::transcript_dir(app);
    match Transcript::create(&dir, &mb.id, &ep.name(), &ep.login, ep.password.expose()) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(mailbox = %mb.id, error = %e, "cannot write an SMTP transcript under {}", dir.display());
            None
        }
    }
}

/// The config records sessions: `log_sessions`, and `log_sessions_until` (if set) has not
/// passed. (The console's switch is the other way: `logging::on_now` asks both.)
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

    if let Some(p) = store.outbox().pause(&mb.id)? {
        if fingerprint(&p.salt, &ep) == p.fingerprint {
            let why = if p.reason.starts_with(BLOCKED) {
                format!("paused: {}; once the provider unblocks it, run `postbote queue retry ID`", p.reason)
            } else {
                format!("paused: {} refused the login; fix the password, then run `postbote queue retry ID`", ep.name())
            };
            store.outbox().mark_waiting(&mb.id, Some(&why), now())?;
            return Ok(0);
        }
        tracing::info!(mailbox = %mb.id, "the outgoing login changed since it was refused: sending again");
        store.outbox().clear_pause(&mb.id)?;
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
            store.outbox().mark_waiting(&mb.id, Some(GATE_CLOSED), now())?;
            break;
        }
        let Some(m) = store.outbox().next(&mb.id, now())? else { break };
        if m.pending.is_empty() {
            // Every recipient was settled earlier (e.g. by `queue retry` of a sent message).
            let status = if m.already_sent > 0 { State::Sent } else { State::Failed };
            store.outbox().begin(m.id)?;
            store.outbox().finish(
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
                    store.outbox().set_pause(&Pause {
                        account: mb.id.clone(),
                        transport: mb.transport.as_str().into(),
                        reason: text.clone(),
                        at: now(),
                        fingerprint: fingerprint(&salt, &ep),
                        salt,
                    })?;
                    store.outbox().note(
                        m.id,
                        &label,
                        code,
                        &format!("{text}: sending paused until the password is fixed"),
                    )?;
                    let why = format!(
                        "paused: {} refused the login; fix the password, then run `postbote queue retry ID`",
                        ep.name()
                    );
                    store.outbox().mark_waiting(&mb.id, Some(&why), now())?;
                    break;
                }
                Err(e) => {
                    let attempts = (m.attempts + 1) as u32;
                    let failure = match (&e, e.code()) {
                        // "421 4.7.0 Too many connections" in the greeting: slow the transport down too.
                        (SmtpError::Refused { reply, .. }, Some(c)) => {
                            let text = reply.strip_prefix(&c.to_string()).unwrap_or(reply).trim().to_string();
                            let r = Reply { code: c, lines: vec![text] };
                            match failure_at(Stage::Greeting, &r) {
                                Failure::Throttle => {
                                    pacing.throttled(app, mb, &r)?;
                                    Failure::Throttle
                                }
                                // "554 5.7.1 your account is blocked" before any envelope: the
                                // mailbox pauses, as it would at MAIL FROM; nothing is deferred.
                                Failure::AccountBlocked => {
                                    blocked(app, mb, &ep, &label, m.id, &r)?;
                                    break;
                                }
                                _ => Failure::Reply(c),
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
                    store.outbox().defer_due(&mb.id, now(), now() + delay.as_secs() as i64, &label, &e.to_string())?;
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
                store.outbox().defer_due(&mb.id, now(), now() + delay.as_secs() as i64, "postbote", &text)?;
                break;
            }
        };
        let s = session.as_mut().expect("connected above");
        let per_envelope = rate::recipients_per_envelope(&pacing.limits).unwrap_or(usize::MAX);
        let (mut these, mut left) = m.pending.split_at(per_envelope.min(m.pending.len()));
        // `sending`, this envelope counted and its recipients in flight: one transaction.
        if !store.outbox().begin_counted(m.id, &pacing.keys, now(), these)? {
            continue;
        }
        attempted += 1;
        on_conn += 1;
        // The switch is asked before every message, not only when the connection opens: a
        // long drain stops recording when its time is up or a person switches it off.
        if s.recording() && !super::logging::on_now(app, mb.transport) {
            s.stop_recording();
        }
        s.note(&super::logging::message_note(m.id, &m.message_id));
        let mut envelopes: Vec<AttemptResult> = Vec::new();
        let mut signal = Signal::Fine;
        let mut held = None;
        loop {
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
            // Between envelopes: this one's recipients are settled before the next goes out.
            let last = envelopes.last().expect("pushed above");
            store.outbox().finish(m.id, &AttemptResult { status: State::Sending, due_at: None, ..last.clone() })?;
            if let Pace::HeldUntil(t) = pacing.pace(app, now())? {
                held = Some(t);
                break;
            }
            (these, left) = left.split_at(per_envelope.min(left.len()));
            store.outbox().next_envelope(m.id, &pacing.keys, now(), these)?;
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
        store.outbox().finish(m.id, &result)?;
        tracing::debug!(mailbox = %mb.id, id = m.id, status = %result.status, "attempt recorded");
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
