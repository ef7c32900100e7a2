//! The office-session gate, the clock that only runs while it is open, and the office
//! sessions that open it.
//!
//! A transport with `send_while = "session"` may send only while at least one office session
//! holds an unexpired lease (sessions live in the store, so the command line and the daemon
//! agree); `"always"` is always open. The [`OpenClock`] turns observations of the gate into
//! "seconds the gate was open", which is what a message's lifetime is measured in: a two-week
//! holiday with the office closed uses none of it (nor does time in which the message is held
//! by pacing or its mailbox is paused: the store leaves those out). The session functions
//! (`session_login`, `session_heartbeat`, `session_logout`, each also `_via` a named channel
//! for the audit trail) are what the control endpoint and the command line call; they cap
//! leases by `control.max_session_ttl` and wake the loop. Nothing here sends.

use std::time::Duration;

use tokio::time::Instant;

use super::EnqueueError;
use crate::app::App;
use crate::config::{SendWhile, Transport};
use crate::store::now;
use crate::store::sessions::OfficeSession;

/// Whether `transport` may send now, and the live sessions that hold it open.
#[derive(Debug, Clone)]
pub struct GateState {
    pub open: bool,
    pub policy: SendWhile,
    pub sessions: Vec<OfficeSession>,
}

pub fn policy(app: &App, transport: Transport) -> SendWhile {
    let server = match transport {
        Transport::Direct => app.config.direct.as_ref(),
        Transport::Relay => app.config.relay.as_ref(),
    };
    server.map(|s| s.send_while).unwrap_or(match transport {
        Transport::Direct => SendWhile::Session,
        Transport::Relay => SendWhile::Always,
    })
}

pub fn state(app: &App, transport: Transport) -> Result<GateState, crate::store::StoreError> {
    let policy = policy(app, transport);
    let sessions = app.store.sessions().active(crate::store::now())?;
    let open = match policy {
        SendWhile::Always => true,
        SendWhile::Session => !sessions.is_empty(),
    };
    Ok(GateState { open, policy, sessions })
}

pub fn is_open(app: &App, transport: Transport) -> Result<bool, crate::store::StoreError> {
    Ok(state(app, transport)?.open)
}

/// Accumulates the time a gate was open from periodic observations. An interval counts when
/// the gate was open at its start (a gate that opens mid-interval starts counting at the next
/// observation; the error is at most one tick, a few seconds). Fractions are carried, never lost.
#[derive(Debug, Default)]
pub struct OpenClock {
    last: Option<(Instant, bool)>,
    carry_ms: u128,
}

impl OpenClock {
    pub fn new() -> OpenClock {
        OpenClock::default()
    }

    /// Observe the gate at `now`; returns the whole seconds of open time since the last call.
    pub fn tick(&mut self, now: Instant, open: bool) -> u64 {
        let credited = match self.last {
            Some((then, true)) => now.saturating_duration_since(then).as_millis(),
            _ => 0,
        };
        self.last = Some((now, open));
        let total = self.carry_ms + credited;
        self.carry_ms = total % 1000;
        (total / 1000) as u64
    }
}

// ----------------------------------------------------------------------- office sessions

/// "cli uid N": a session change made in this process (the command line while the daemon is
/// not running), as the audit trail records it.
pub fn this_process() -> String {
    // SAFETY: getuid has no arguments, cannot fail and touches no memory of ours.
    format!("cli uid {}", unsafe { libc::getuid() })
}

/// Log an office session in; the gate of `send_while = "session"` transports opens.
pub fn session_login(app: &App, user: &str, ttl: Option<Duration>) -> Result<OfficeSession, EnqueueError> {
    session_login_via(app, user, ttl, &this_process())
}

/// Log an office session in for a request that came in `how` (recorded in the audit trail).
/// The lease is `ttl` (default `control.session_ttl`), never more than `control.max_session_ttl`.
pub fn session_login_via(
    app: &App,
    user: &str,
    ttl: Option<Duration>,
    how: &str,
) -> Result<OfficeSession, EnqueueError> {
    let user = user.trim();
    if user.is_empty() || user.len() > 200 {
        return Err(EnqueueError::Refused("a session needs a user name (1 to 200 characters)".into()));
    }
    let c = &app.config.control;
    let ttl = ttl.unwrap_or(c.session_ttl).min(c.max_session_ttl).as_secs().max(1) as i64;
    let s = app.store.sessions().insert(&super::random_hex(16), user, ttl, how)?;
    app.outbox_wake.notify_one();
    Ok(s)
}

pub fn session_heartbeat(app: &App, id: &str) -> Result<Option<OfficeSession>, crate::store::StoreError> {
    session_heartbeat_via(app, id, &this_process())
}

/// Renew a lease to now + the session's ttl, never more than `control.max_session_ttl` ahead.
pub fn session_heartbeat_via(
    app: &App,
    id: &str,
    how: &str,
) -> Result<Option<OfficeSession>, crate::store::StoreError> {
    app.store.sessions().heartbeat(id, app.config.control.max_session_ttl.as_secs() as i64, how)
}

pub fn session_logout(app: &App, id: &str) -> Result<bool, crate::store::StoreError> {
    session_logout_via(app, id, &this_process())
}

pub fn session_logout_via(app: &App, id: &str, how: &str) -> Result<bool, crate::store::StoreError> {
    app.store.sessions().end(id, how)
}

pub fn sessions(app: &App) -> Result<Vec<OfficeSession>, crate::store::StoreError> {
    app.store.sessions().active(now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A message with a 5-day lifetime survives a two-week holiday with the gate closed, and
    /// expires once it has waited 5 days of open-gate time.
    #[tokio::test(start_paused = true)]
    async fn expiry_counts_only_open_gate_time() {
        const DAY: u64 = 86_400;
        let lifetime = 5 * DAY;
        let mut clock = OpenClock::new();
        let mut waited = 0u64;
        let tick = Duration::from_secs(5);
        // (days, gate open) phases: two days at work, a two-week holiday, then back at work.
        let phases: &[(u64, bool)] = &[(2, true), (14, false), (2, true), (1, false)];
        clock.tick(Instant::now(), true);
        for (days, open) in phases {
            let end = Instant::now() + Duration::from_secs(days * DAY);
            while Instant::now() < end {
                tokio::time::advance(tick).await;
                waited += clock.tick(Instant::now(), *open);
            }
        }
        // 19 days of wall-clock time have passed; the gate was open for 4 of them (the tick
        // that ends an open phase is still credited, the one that ends a closed one is not).
        let open_days = waited as f64 / DAY as f64;
        assert!((open_days - 4.0).abs() < 0.001, "open time {open_days} days");
        assert!(waited < lifetime, "a closed office must not use up the lifetime");

        // One more open day and a bit: now it is over.
        let end = Instant::now() + Duration::from_secs(DAY + 60);
        clock.tick(Instant::now(), true);
        while Instant::now() < end {
            tokio::time::advance(tick).await;
            waited += clock.tick(Instant::now(), true);
        }
        assert!(waited >= lifetime, "expired after 5 days of open gate: {waited}");
    }

    #[tokio::test(start_paused = true)]
    async fn fractions_are_carried() {
        let mut clock = OpenClock::new();
        let mut total = 0;
        clock.tick(Instant::now(), true);
        for _ in 0..10 {
            tokio::time::advance(Duration::from_millis(300)).await;
            total += clock.tick(Instant::now(), true);
        }
        assert_eq!(total, 3);
        // Closed from here: nothing more counts.
        clock.tick(Instant::now(), false);
        tokio::time::advance(Duration::from_secs(100)).await;
        assert_eq!(clock.tick(Instant::now(), false), 0);
    }
}
