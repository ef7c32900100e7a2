//! The state of a queued message as a type: [`State`] in Rust, its [`State::as_str`] text in
//! `outbox_message.status` (`schema/0002_outbox.sql`). The one place that spells the words;
//! reading a word it does not know is a store error, never a guess.

use serde::Serialize;

use super::{Result, StoreError};

/// The state of a queued message, stored as its [`State::as_str`] text in
/// `outbox_message.status` (`schema/0002_outbox.sql`).
///
/// `Queued` and `Deferred` wait ([`State::is_waiting`]); `Sending` is committed before the
/// SMTP dialogue starts; `Unknown` is a `Sending` found after a crash (or a connection lost
/// after the final "."), which waits for a person; `Sent`, `Failed`, `Cancelled` and
/// `Expired` are final. Text in the column that is none of these is a store error, never a
/// guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Sending,
    Deferred,
    Unknown,
    Sent,
    Failed,
    Expired,
    Cancelled,
}

impl State {
    /// Every state, in the order `status` lists them.
    pub const ALL: [State; 8] = [
        State::Queued,
        State::Sending,
        State::Deferred,
        State::Unknown,
        State::Sent,
        State::Failed,
        State::Expired,
        State::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Sending => "sending",
            State::Deferred => "deferred",
            State::Unknown => "unknown",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Expired => "expired",
            State::Cancelled => "cancelled",
        }
    }

    /// Still waiting to be sent (what `store::outbox::WAITING` selects in SQL).
    pub const fn is_waiting(self) -> bool {
        matches!(self, State::Queued | State::Deferred)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for State {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            StoreError::Other(format!(
                "outbox state \"{s}\" is not one of {} (written by a newer postbote?)",
                State::ALL.map(State::as_str).join(", ")
            ))
        })
    }
}

impl rusqlite::types::ToSql for State {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for State {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str()?.parse().map_err(|e: StoreError| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_and_a_strange_word_is_an_error() {
        for st in State::ALL {
            assert_eq!(st.as_str().parse::<State>().unwrap(), st);
            assert_eq!(serde_json::to_value(st).unwrap(), serde_json::json!(st.as_str()));
        }
        let e = "postponed".parse::<State>().unwrap_err().to_string();
        assert!(e.contains("\"postponed\" is not one of queued, sending"), "{e}");
        let waiting: Vec<&str> = State::ALL.into_iter().filter(|s| s.is_waiting()).map(State::as_str).collect();
        assert_eq!(crate::store::outbox::WAITING, format!("('{}')", waiting.join("','")));
    }
}
