//! Pacing glue between the queue and the pure policy in `rate`: which keys and limits apply
//! to a mailbox's envelopes, asking whether the next one may go, holding the mailbox's waiting
//! messages until it may, recording a transport's slow-down after a throttling answer, pausing
//! a mailbox whose account the provider blocked (with a notice in its INBOX), and what pacing
//! does to a mailbox now ([`RateSummary`], which `status` shows). Every count and state it uses
//! is in the store (`store::outbox_rate`), so `status` in another process sees the same, and a
//! restart changes nothing. It never talks to a server and never decides a message's state
//! (that is `send`).

use super::rate::{self, Pace};
use super::send::{BLOCKED, fingerprint};
use crate::app::App;
use crate::config::{Mailbox, RateLimits};
use crate::smtp::{Endpoint, Reply};
use crate::store::outbox_list::Pause;
use crate::store::outbox_rate::Throttle;
use crate::store::{StoreError, now};

/// The keys and limits pacing applies to one mailbox's envelopes: its transport's (shared by
/// every mailbox on it) and its login's.
pub(crate) struct Pacing {
    /// `transport:<name>`, then `login:<transport>:<login>`.
    pub(crate) keys: Vec<String>,
    pub(crate) limits: [RateLimits; 2],
}

impl Pacing {
    pub(crate) fn of(app: &App, mb: &Mailbox, ep: &Endpoint) -> Pacing {
        let t = mb.transport.as_str();
        Pacing {
            keys: vec![format!("transport:{t}"), format!("login:{t}:{}", ep.login)],
            limits: [app.config.smtp_server(mb).limits, mb.smtp.as_ref().map(|s| s.limits).unwrap_or_default()],
        }
    }

    fn adaptive(app: &App, key: &str) -> Result<Option<rate::Adaptive>, StoreError> {
        Ok(app
            .store
            .outbox()
            .throttle(key)?
            .map(|t| rate::Adaptive { interval: t.interval_secs, throttled_at: t.throttled_at }))
    }

    /// May the next envelope go now?
    pub(crate) fn pace(&self, app: &App, at: i64) -> Result<Pace, StoreError> {
        let adaptive = Self::adaptive(app, &self.keys[0])?.filter(|a| a.current(at).is_some());
        let timed = |l: &RateLimits| l.per_minute.is_some() || l.per_hour.is_some() || l.per_day.is_some();
        if adaptive.is_none() && !self.limits.iter().any(timed) {
            return Ok(Pace::Now);
        }
        let since = at - rate::DAY;
        let t_sends = app.store.outbox().sends_since(&self.keys[0], since)?;
        let l_sends = app.store.outbox().sends_since(&self.keys[1], since)?;
        Ok(rate::next_send(
            &[
                rate::Window { limits: self.limits[0], sends: &t_sends, adaptive },
                rate::Window { limits: self.limits[1], sends: &l_sends, adaptive: None },
            ],
            at,
        ))
    }

    /// Hold the mailbox's waiting messages until `until`.
    pub(crate) fn hold(&self, app: &App, mb: &Mailbox, until: i64) -> Result<(), StoreError> {
        let at = now();
        let why = held_text(app.config.agent.time_zone, until, at);
        let n = app.store.outbox().hold(&mb.id, until, &why, at)?;
        tracing::info!(mailbox = %mb.id, messages = n, "{why}");
        Ok(())
    }

    /// A throttling answer came: halve the transport's rate.
    pub(crate) fn throttled(&self, app: &App, mb: &Mailbox, reply: &Reply) -> Result<(), StoreError> {
        let at = now();
        let prev = Self::adaptive(app, &self.keys[0])?;
        let sends = app.store.outbox().sends_since(&self.keys[0], at - rate::MINUTE)?;
        let a = rate::throttled(prev, &self.limits[0], &sends, at);
        app.store.outbox().set_throttle(&Throttle {
            key: self.keys[0].clone(),
            interval_secs: a.interval,
            throttled_at: at,
            reply: reply.summary(),
        })?;
        tracing::warn!(
            mailbox = %mb.id,
            transport = mb.transport.as_str(),
            reply = %reply.summary(),
            interval_s = a.interval,
            "the provider asked to slow down: this transport now sends more slowly"
        );
        Ok(())
    }
}

/// "held by rate limit until 14:05" in the office's time zone; with the date when not today.
pub fn held_text(tz: chrono_tz::Tz, until: i64, now: i64) -> String {
    match crate::clock::local_time_short(tz, until, now) {
        t if t.is_empty() => rate::HELD.to_string(),
        t => format!("{} {t}", rate::HELD),
    }
}

/// The provider blocked the account: pause the mailbox (lifted by a new password or `queue
/// retry`, like a refused login), note it, and put a notice into the mailbox's INBOX.
pub(crate) fn blocked(
    app: &App,
    mb: &Mailbox,
    ep: &Endpoint,
    label: &str,
    id: i64,
    reply: &Reply,
) -> Result<(), StoreError> {
    let reason = format!("{BLOCKED} ({})", reply.summary());
    tracing::error!(mailbox = %mb.id, reply = %reply.summary(), "the provider blocked the sending account: sending paused for this mailbox");
    let salt = super::random_hex(8);
    app.store.outbox().set_pause(&Pause {
        account: mb.id.clone(),
        transport: mb.transport.as_str().into(),
        reason: reason.clone(),
        at: now(),
        fingerprint: fingerprint(&salt, ep),
        salt,
    })?;
    app.store.outbox().note(
        id,
        label,
        Some(reply.code as i64),
        &format!("{reason}: sending paused for this mailbox; no recipient was given up"),
    )?;
    app.store.outbox().mark_waiting(
        &mb.id,
        Some(&format!("paused: {reason}; once the provider unblocks it, run `postbote queue retry ID`")),
        now(),
    )?;
    let raw = blocked_notice(app.config.agent.time_zone, mb.primary_address(), &ep.name(), &reply.summary());
    app.store.insert_inbox_notice(&mb.id, raw, &["$postbote-notice"])?;
    app.wake_writeback(&mb.id);
    Ok(())
}

/// The INBOX notice about a blocked account, in German and English.
fn blocked_notice(tz: chrono_tz::Tz, to: &str, server: &str, reply: &str) -> Vec<u8> {
    use super::compose::{date_header, encode_word, new_message_id};
    let domain = to.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
    let body = format!(
        "Der Mailserver {server} hat das Versandkonto gesperrt:\r\n\r\n  {reply}\r\n\r\n\
         postbote hat den Versand für dieses Postfach angehalten. Keine Nachricht ist verloren: alle warten in der\r\n\
         Warteschlange. Bitte klären Sie die Sperre mit dem Anbieter und starten Sie dann den Versand mit\r\n\
         `postbote queue retry ID` wieder.\r\n\r\n----\r\n\r\n\
         The mail server {server} blocked the sending account:\r\n\r\n  {reply}\r\n\r\n\
         postbote has paused sending for this mailbox. No message is lost: they all wait in the queue.\r\n\
         Please have the provider lift the block, then resume with `postbote queue retry ID`.\r\n"
    );
    let hdr = format!(
        "From: \"postbote\" <mailer-daemon@{domain}>\r\nTo: <{to}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}>\r\n\
         Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n",
        encode_word("Versand angehalten: Konto gesperrt / Sending paused: account blocked"),
        date_header(tz),
        new_message_id(domain),
    );
    let mut out = hdr.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// What pacing does to one mailbox now, for `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSummary {
    /// When this was taken (unix seconds); a hold may end before it.
    pub at: i64,
    /// Messages the rate limit holds back, and until when.
    pub held: Option<Held>,
    /// The transport's slow-down after a throttling answer, while it lasts.
    pub slowed_down: Option<SlowDown>,
}

/// Messages of a mailbox held by the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub messages: i64,
    /// When the first of them may go (unix seconds).
    pub until: i64,
}

/// A transport sending slower after the provider said "too many".
#[derive(Debug, Clone, PartialEq)]
pub struct SlowDown {
    /// The throttling answer, for people.
    pub reply: String,
    /// When it came (unix seconds).
    pub at: i64,
    /// The least time between two envelopes now; it shrinks by itself.
    pub interval_secs: f64,
}

/// Pacing of `mb` at `at`: what is held back and whether its transport is slowed down.
pub fn rate_status(app: &App, mb: &Mailbox, at: i64) -> Result<RateSummary, StoreError> {
    let held = app.store.outbox().rate_held(&mb.id, rate::HELD)?.map(|(messages, until)| Held { messages, until });
    let key = format!("transport:{}", mb.transport.as_str());
    let slowed_down = app.store.outbox().throttle(&key)?.and_then(|t| {
        rate::Adaptive { interval: t.interval_secs, throttled_at: t.throttled_at }
            .current(at)
            .map(|interval_secs| SlowDown { reply: t.reply, at: t.throttled_at, interval_secs })
    });
    Ok(RateSummary { at, held, slowed_down })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_text_is_office_time() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        // 2026-12-04 13:05 UTC is 14:05 in Berlin (CET).
        let until = chrono::DateTime::parse_from_rfc3339("2026-12-04T13:05:00Z").unwrap().timestamp();
        assert_eq!(held_text(tz, until, until - 120), "held by rate limit until 14:05");
        assert_eq!(held_text(tz, until, until - 86_400), "held by rate limit until 04.12.2026 14:05");
    }
}
