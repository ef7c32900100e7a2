//! `[outbox]`: how long a message may wait, how attempts are spaced, when its sender hears that
//! it still waits, and the office's working hours those waits are counted in.

use std::time::Duration;

use super::ConfigError;
use super::WorkingHours;
use super::raw::RawOutbox;
use super::validate::{duration, invalid};

#[derive(Debug, Clone)]
pub struct Outbox {
    pub lifetime: Duration,
    pub transcript_retention: Duration,
    pub max_messages_per_connection: u32,
    /// Waits between attempts after a temporary failure; the last one repeats.
    pub retry_schedule: Vec<Duration>,
    /// Closed-gate time inside working hours after which the sender is told that mail waits.
    pub still_waiting_after: Duration,
    /// The office's working hours, in `agent.time_zone`.
    pub working_hours: WorkingHours,
}

impl Outbox {
    pub(super) fn from_raw(raw: RawOutbox) -> Result<Outbox, ConfigError> {
        let raw_lifetime = raw.lifetime.clone();
        let outbox = Outbox {
            lifetime: duration(raw.lifetime.as_deref().unwrap_or("5d"), "outbox.lifetime")?,
            transcript_retention: duration(
                raw.transcript_retention.as_deref().unwrap_or("14d"),
                "outbox.transcript_retention",
            )?,
            max_messages_per_connection: raw.max_messages_per_connection.unwrap_or(100).max(1),
            retry_schedule: {
                let given = raw
                    .retry_schedule
                    .unwrap_or_else(|| ["1m", "5m", "15m", "30m", "1h", "2h", "4h"].map(String::from).to_vec());
                if given.is_empty() {
                    return Err(invalid(
                        "outbox.retry_schedule is empty: give at least one wait, e.g. [\"4h\"]".into(),
                    ));
                }
                given.iter().map(|d| duration(d, "outbox.retry_schedule")).collect::<Result<Vec<_>, _>>()?
            },
            still_waiting_after: duration(
                raw.still_waiting_after.as_deref().unwrap_or("2h"),
                "outbox.still_waiting_after",
            )?,
            working_hours: {
                let given = raw.working_hours.as_deref().unwrap_or("Mon-Fri 07:00-18:00");
                WorkingHours::parse(given).map_err(|e| invalid(format!("outbox.working_hours \"{given}\": {e}")))?
            },
        };
        if outbox.lifetime.is_zero() {
            return Err(invalid(format!(
                "outbox.lifetime \"{}\" must be longer than zero: every message would expire unsent",
                raw_lifetime.as_deref().unwrap_or("")
            )));
        }
        Ok(outbox)
    }
}
