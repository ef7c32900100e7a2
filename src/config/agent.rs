//! `[agent]`: where the data lives, the time zone everything local is read in, and how often
//! the mailboxes are polled.

use std::path::PathBuf;

use super::raw::RawAgent;
use super::validate::{invalid, parse_cron};
use super::{ConfigError, Rel};

#[derive(Debug, Clone)]
pub struct Agent {
    pub data_dir: PathBuf,
    pub time_zone: chrono_tz::Tz,
    /// The poll schedule as written (crontab syntax, validated).
    pub poll: String,
    pub batch_size: u32,
}

impl Agent {
    pub(super) fn from_raw(raw: RawAgent, rel: Rel) -> Result<Agent, ConfigError> {
        Ok(Agent {
            data_dir: rel(raw.data_dir.unwrap_or_else(|| "/var/lib/postbote".into())),
            time_zone: {
                let tz = raw.time_zone.unwrap_or_else(|| "Europe/Berlin".into());
                tz.parse().map_err(|_| {
                    invalid(format!("agent.time_zone \"{tz}\" is not a known time zone (e.g. \"Europe/Berlin\")"))
                })?
            },
            poll: {
                let poll = raw.poll.unwrap_or_else(|| "*/2 * * * *".into());
                parse_cron(&poll)
                    .map_err(|e| invalid(format!("agent.poll \"{poll}\" is not a crontab schedule: {e}")))?;
                poll
            },
            batch_size: match raw.batch_size.unwrap_or(200) {
                0 => return Err(invalid("agent.batch_size must be at least 1".into())),
                n => n,
            },
        })
    }
}
