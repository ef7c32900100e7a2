-- 0010_waiting_notice: what the "still waiting" notice needs to survive a restart.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- One row per waiting message that has been held by a closed office-session gate during the
-- office's working hours (`outbox.working_hours`, in the office time zone). `gate_secs` is
-- that time: the queue loop adds to it while the gate of the message's transport is closed,
-- so a daemon restart keeps what was counted; evenings, weekends and `always` transports
-- never count, and auto-replies get no row (they expire by themselves, nobody is told).
-- `notice_at` is when the sender was told (unix seconds), written in the transaction that
-- puts the notice into the INBOX, so a message gets at most one notice and a crash can never
-- tell twice; the newest per account limits the notices to one per sender per day.
-- A table of its own rather than columns on outbox_message: the feature's data stays in one
-- place, and the statements can be applied again to a store that already has them.
CREATE TABLE IF NOT EXISTS outbox_wait (
  message    INTEGER PRIMARY KEY REFERENCES outbox_message(id) ON DELETE CASCADE,
  account    TEXT NOT NULL,
  gate_secs  INTEGER NOT NULL DEFAULT 0,
  notice_at  INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_wait_notice ON outbox_wait (account, notice_at);
