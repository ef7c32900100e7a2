//! Whether the SMTP sessions of a transport are recorded to transcripts now, and the switch a
//! person turns from the office console.
//!
//! There are two switches. The config's `log_sessions` (with `log_sessions_until`) is on until
//! the config changes. The console's switch (`store.smtp_logging()`, migration 0024) is always
//! on *until* a time the person chose, and then off by itself: transcripts reveal whom everyone
//! mails, so recording must not be forgotten. Recording is on when either is. `send` asks
//! [`on_now`] before every SMTP session; `summary` reports [`recording`]. Transcripts are
//! written by `smtp::transcript`; this module only decides and finds them.

use std::path::PathBuf;

use super::send;
use crate::app::App;
use crate::config::Transport;
use crate::store::smtp_logging::Switch;
use crate::store::{StoreError, now};

/// The recording state of one transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The transport is configured (`[direct]` or `[relay]`).
    pub configured: bool,
    /// Sessions are recorded now.
    pub on: bool,
    /// The config records them (`log_sessions`), until `config_until` if set (unix seconds).
    pub by_config: bool,
    pub config_until: Option<i64>,
    /// The console's switch, past or present.
    pub switch: Option<Switch>,
}

impl Recording {
    /// When recording stops by itself; `None` when it is off, or on by the config without end.
    pub fn until(&self) -> Option<i64> {
        if !self.on {
            return None;
        }
        let console = self.switch.as_ref().map(|s| s.until).filter(|u| *u > now());
        match (self.by_config, self.config_until, console) {
            (true, None, _) => None,
            (true, Some(c), Some(s)) => Some(c.max(s)),
            (true, Some(c), None) => Some(c),
            (false, _, s) => s,
        }
    }
}

fn server(app: &App, transport: Transport) -> Option<&crate::config::SmtpServer> {
    match transport {
        Transport::Direct => app.config.direct.as_ref(),
        Transport::Relay => app.config.relay.as_ref(),
    }
}

/// The recording state of `transport` now.
pub fn recording(app: &App, transport: Transport) -> Result<Recording, StoreError> {
    let server = server(app, transport);
    let by_config = server.is_some_and(send::transcripts_on);
    let config_until = server.filter(|s| s.log_sessions).and_then(|s| s.log_sessions_until).map(|u| u.timestamp());
    let switch = app.store.smtp_logging().get(transport.as_str())?;
    let by_console = switch.as_ref().is_some_and(|s| s.until > now());
    Ok(Recording { configured: server.is_some(), on: by_config || by_console, by_config, config_until, switch })
}

/// Whether a session of `transport` starting now is recorded. A store that cannot be read
/// leaves only the config's switch (and says so in the log).
pub fn on_now(app: &App, transport: Transport) -> bool {
    match recording(app, transport) {
        Ok(r) => r.on,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the SMTP recording switch; only the config's counts");
            server(app, transport).is_some_and(send::transcripts_on)
        }
    }
}

/// Record the sessions of `transport` until `until` (unix seconds, in the future).
pub fn switch_on(app: &App, transport: Transport, until: i64, who: &str) -> Result<(), StoreError> {
    app.store.smtp_logging().switch_on(transport.as_str(), until, who)
}

/// Stop what the console switched on for `transport`, now. The config's switch stays as it is.
pub fn switch_off(app: &App, transport: Transport) -> Result<bool, StoreError> {
    app.store.smtp_logging().switch_off(transport.as_str())
}

/// Where transcripts are written.
pub fn transcript_dir(app: &App) -> PathBuf {
    app.config.agent.data_dir.join("transcripts")
}

/// The note the outbox writes into a transcript before it sends queued message `id`.
pub fn message_note(id: i64, message_id: &str) -> String {
    format!("queue message {id} <{message_id}>")
}

/// The transcripts that recorded a session carrying queued message `id` of `account`.
pub fn transcripts_of(app: &App, account: &str, id: i64, since: i64) -> Vec<String> {
    crate::smtp::transcript::mentioning(&transcript_dir(app), account, &format!("queue message {id} <"), since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consoles_switch_records_until_its_end_beside_the_configs() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), false);
        let off = recording(&app, Transport::Relay).unwrap();
        assert!(off.configured && !off.on && off.until().is_none(), "{off:?}");
        assert!(!on_now(&app, Transport::Relay));
        switch_on(&app, Transport::Relay, now() + 600, "console:anna").unwrap();
        let on = recording(&app, Transport::Relay).unwrap();
        assert!(on.on && !on.by_config && on.until().is_some_and(|u| u > now()), "{on:?}");
        assert!(on_now(&app, Transport::Relay));
        assert!(crate::outbox::status(&app, "becker").unwrap().transcripts, "status says so");
        assert!(!recording(&app, Transport::Direct).unwrap().configured);
        assert!(switch_off(&app, Transport::Relay).unwrap());
        assert!(!on_now(&app, Transport::Relay), "off at once");
        // A switch-on whose end has passed records nothing.
        switch_on(&app, Transport::Relay, now() - 1, "console:anna").unwrap();
        assert!(!on_now(&app, Transport::Relay));
        assert_eq!(message_note(7, "a@b.test"), "queue message 7 <a@b.test>");
    }
}
