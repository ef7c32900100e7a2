-- 0024: SMTP session recording switched on from the office console, per transport, always with
-- the time it switches itself off. The config's `log_sessions` stays as it was (on until the
-- config changes, or until `log_sessions_until`); this row is the other way to switch it on, so
-- that nobody has to edit the config and nobody can forget to switch it off: transcripts reveal
-- whom everyone mails. The outbox reads it before every SMTP session; a row whose `until` has
-- passed records nothing and is only history. `by_user` names the console account.
-- IF NOT EXISTS: applying it again to a store whose version was wound back loses nothing.
CREATE TABLE IF NOT EXISTS smtp_logging (
  transport  TEXT PRIMARY KEY CHECK (transport IN ('direct', 'relay')),
  until      INTEGER NOT NULL,                  -- unix seconds: recording stops by itself then
  by_user    TEXT NOT NULL,
  at         INTEGER NOT NULL                   -- when it was switched on
);
