//! The console's switch for SMTP session recording (`schema/0024_smtp_logging.sql`), reached as
//! `store.smtp_logging()`: per transport ("direct" or "relay"), on until a given time, with who
//! switched it on. The config's `log_sessions` is the other switch; `outbox::logging` reads
//! both. Nothing here writes or reads a transcript file.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, now};

/// A switch-on as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// "direct" or "relay".
    pub transport: String,
    /// Unix seconds: recording stops by itself then.
    pub until: i64,
    pub by_user: String,
    /// Unix seconds: when it was switched on.
    pub at: i64,
}

#[derive(Clone, Copy)]
pub struct SmtpLogging<'a>(&'a Store);

impl Store {
    /// The console's SMTP-recording switches.
    pub fn smtp_logging(&self) -> SmtpLogging<'_> {
        SmtpLogging(self)
    }
}

impl SmtpLogging<'_> {
    /// Record the sessions of `transport` until `until` (replacing an earlier switch-on).
    pub fn switch_on(&self, transport: &str, until: i64, by_user: &str) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute(
                "INSERT INTO smtp_logging (transport, until, by_user, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(transport) DO UPDATE SET until = excluded.until, by_user = excluded.by_user, at = excluded.at",
                params![transport, until, by_user, now()],
            )?;
            Ok(())
        })
    }

    /// Stop recording `transport` now (what the console switched on). Returns whether it was on.
    pub fn switch_off(&self, transport: &str) -> Result<bool> {
        self.0.write(|t| {
            let at = now();
            Ok(t.tx.execute(
                "UPDATE smtp_logging SET until = ?2 WHERE transport = ?1 AND until > ?2",
                params![transport, at],
            )? > 0)
        })
    }

    /// The switch of `transport`, past or present.
    pub fn get(&self, transport: &str) -> Result<Option<Switch>> {
        self.0.read(|c| {
            Ok(c.prepare_cached("SELECT transport, until, by_user, at FROM smtp_logging WHERE transport = ?1")?
                .query_row([transport], |r| {
                    Ok(Switch { transport: r.get(0)?, until: r.get(1)?, by_user: r.get(2)?, at: r.get(3)? })
                })
                .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_switch_is_on_until_its_end_and_can_be_ended_early() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::Store::open(&dir.path().join("s.db")).unwrap();
        let l = s.smtp_logging();
        assert_eq!(l.get("direct").unwrap(), None);
        let until = crate::store::now() + 3600;
        l.switch_on("direct", until, "anna").unwrap();
        let got = l.get("direct").unwrap().unwrap();
        assert_eq!((got.until, got.by_user.as_str()), (until, "anna"));
        assert!(l.switch_off("direct").unwrap());
        assert!(l.get("direct").unwrap().unwrap().until <= crate::store::now());
        assert!(!l.switch_off("direct").unwrap(), "already off");
        assert!(s.smtp_logging().switch_on("pigeon", until, "anna").is_err(), "only the two transports");
    }
}
