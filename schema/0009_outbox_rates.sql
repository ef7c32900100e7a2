-- 0009_outbox_rates: send-rate limits per transport and per login.
-- Append-only: a shipped migration is never edited; later changes go into a new file.
-- IF NOT EXISTS: applying it to a store that already has these tables (a test that winds
-- user_version back to replay an earlier migration) changes nothing.

-- One row per envelope handed to a server (MAIL FROM about to be sent), under every key whose
-- limits applied to it: 'transport:direct', 'transport:relay' and 'login:<smtp login>'. The
-- row is written before the envelope goes out, so a crash can only over-count, and the
-- per-minute, per-hour and per-day counts of `outbox::rate` come from here: a restart can
-- never reset a day's count (an in-memory counter would). Rows older than two days are
-- deleted as new ones are written; no window is longer than a day.
CREATE TABLE IF NOT EXISTS outbox_send_log (
  key      TEXT NOT NULL,
  at       INTEGER NOT NULL,                    -- unix seconds
  message  INTEGER                              -- the outbox_message (for people; no foreign key,
                                                -- so a deleted message still counts)
);
CREATE INDEX IF NOT EXISTS outbox_send_log_key_at ON outbox_send_log (key, at);

-- The adaptive slow-down of a transport after a provider's throttling answer (421/450/451
-- "too many", 4.7.x rate). Kept in the store rather than in memory so that `postbote status`
-- (another process) can show it, and so that a restart right after a throttle does not send
-- at full speed into a provider that has just said "slow down".
--   interval_secs: the least time between two envelopes right after the throttle; it
--                  shrinks by itself as time passes without another throttle (`outbox::rate`).
CREATE TABLE IF NOT EXISTS outbox_throttle (
  key            TEXT PRIMARY KEY,               -- 'transport:direct' or 'transport:relay'
  interval_secs  REAL NOT NULL,
  throttled_at   INTEGER NOT NULL,               -- unix seconds of the last throttling answer
  reply          TEXT NOT NULL                   -- that answer, for people
);
