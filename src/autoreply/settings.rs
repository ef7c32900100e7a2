//! A mailbox's leave settings: what the store keeps and `decide` reads.
//!
//! The fields follow JMAP's VacationResponse (isEnabled, fromDate, toDate, subject, textBody,
//! htmlBody) so a phone's change maps onto them one to one; the rest are postbote's own
//! (internal text, interval, recurring absence, audience, caps). Dates are UTC instants; the
//! config's local dates are converted with `config::local_datetime` (a bare end date is
//! inclusive: the leave ends at the following local midnight). This module does no I/O.
//!
//! The types themselves ([`Settings`], [`Answer`]) live in the store, which persists them, and
//! are re-exported here; this module adds what the auto-responder does with them: checking,
//! reading the config, describing the window.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::{self, RawVacation};

pub use crate::store::autoreply::{
    Answer, DEFAULT_INTERVAL_SECS, DEFAULT_MAX_AGE_SECS, DEFAULT_MAX_PER_HOUR, Settings,
};

/// RFC 5230 §4.1: an interval is at least one day.
pub const MIN_INTERVAL_SECS: i64 = 86_400;
/// The subject when none is configured; `{subject}` is the original subject.
pub const DEFAULT_SUBJECT: &str = "Automatische Antwort: {subject}";
/// The subject when the original had none.
pub const SUBJECT_WITHOUT_ORIGINAL: &str = "Automatische Antwort";
pub const DEFAULT_TEXT: &str =
    "Vielen Dank für Ihre Nachricht. Ich bin zurzeit nicht im Büro und lese sie nach meiner Rückkehr.";

#[derive(Debug, thiserror::Error)]
#[error("vacation settings: {0}")]
pub struct InvalidSettings(pub String);

impl Settings {
    /// Check what a person or a phone may have got wrong. Clamps nothing silently.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        if self.interval_secs < MIN_INTERVAL_SECS {
            return Err(InvalidSettings(format!(
                "interval {} is shorter than one day",
                human_duration(self.interval_secs)
            )));
        }
        if self.max_age_secs < 60 {
            return Err(InvalidSettings("max_age must be at least one minute".into()));
        }
        if let (Some(f), Some(t)) = (self.from_date, self.to_date)
            && t <= f
        {
            return Err(InvalidSettings(format!("the leave ends ({t}) before it starts ({f})")));
        }
        for s in &self.schedule {
            config::parse_cron(s)
                .map_err(|e| InvalidSettings(format!("schedule \"{s}\" is not a crontab expression: {e}")))?;
        }
        // The subject becomes a header: a line break there could start a header of its own.
        if let Some(subject) = &self.subject
            && subject.contains(['\r', '\n'])
        {
            return Err(InvalidSettings("subject contains a line break (CR or LF); a subject is one line".into()));
        }
        for (k, v) in [("subject", &self.subject), ("text body", &self.text_body)] {
            if v.as_deref().is_some_and(|v| v.contains('\0')) {
                return Err(InvalidSettings(format!("{k} contains a NUL character")));
            }
        }
        Ok(())
    }

    /// The settings the config's `[mailbox.vacation]` describes (keys left out take their
    /// defaults). The config was validated when it was loaded.
    pub fn from_config(v: &RawVacation, tz: chrono_tz::Tz) -> Result<Settings, InvalidSettings> {
        let dur = |s: &Option<String>, key: &str, default: i64| -> Result<i64, InvalidSettings> {
            match s {
                None => Ok(default),
                Some(s) => config::parse_duration(s)
                    .map(|d| d.as_secs() as i64)
                    .ok_or_else(|| InvalidSettings(format!("{key} \"{s}\" is not a duration"))),
            }
        };
        let date = |d: &Option<toml::value::Datetime>,
                    end: bool,
                    key: &str|
         -> Result<Option<DateTime<Utc>>, InvalidSettings> {
            d.as_ref()
                .map(|d| config::local_datetime(d, tz, end, key).map_err(|e| InvalidSettings(e.to_string())))
                .transpose()
        };
        let s = Settings {
            is_enabled: v.enabled.unwrap_or(true),
            from_date: date(&v.start, false, "vacation.start")?,
            to_date: date(&v.end, true, "vacation.end")?,
            subject: v.subject.clone().filter(|s| !s.trim().is_empty()),
            text_body: v.body.clone().filter(|s| !s.trim().is_empty()),
            html_body: v.body_html.clone().filter(|s| !s.trim().is_empty()),
            internal_body: v.internal_body.clone().filter(|s| !s.trim().is_empty()),
            interval_secs: dur(&v.interval, "vacation.interval", DEFAULT_INTERVAL_SECS)?,
            schedule: v.schedule.clone().unwrap_or_default(),
            answer: match v.answer.as_deref() {
                None => Answer::Everyone,
                Some(a) => Answer::parse(a)
                    .ok_or_else(|| InvalidSettings(format!("answer \"{a}\" must be everyone or known")))?,
            },
            max_per_hour: v.max_per_hour.unwrap_or(DEFAULT_MAX_PER_HOUR),
            max_age_secs: dur(&v.max_age, "vacation.max_age", DEFAULT_MAX_AGE_SECS)?,
            memory_since: None,
        };
        s.validate()?;
        Ok(s)
    }

    /// A fingerprint of what the config said, so the daemon re-applies it only when it changed.
    pub fn config_fingerprint(v: &RawVacation, tz: chrono_tz::Tz) -> String {
        let text = format!("{v:?}|{tz}");
        hex::encode(&Sha256::digest(text.as_bytes())[..16])
    }

    /// The leave window in words, in local time.
    pub fn describe_window(&self, tz: chrono_tz::Tz) -> String {
        let fmt = |t: DateTime<Utc>| crate::clock::local_time(tz, t.timestamp());
        let mut parts = Vec::new();
        match (self.from_date, self.to_date) {
            (Some(f), Some(t)) => parts.push(format!("from {} until before {}", fmt(f), fmt(t))),
            (Some(f), None) => parts.push(format!("from {}, open end", fmt(f))),
            (None, Some(t)) => parts.push(format!("until before {}", fmt(t))),
            (None, None) if self.schedule.is_empty() => parts.push("always".into()),
            (None, None) => {}
        }
        if !self.schedule.is_empty() {
            parts.push(format!("recurring: {}", self.schedule.join(" | ")));
        }
        parts.join("; ")
    }
}

/// "7d", "36h", "90m", "45s": the largest unit that divides evenly.
pub fn human_duration(secs: i64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= n && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}
