-- 0010_waiting_notice: what the "still waiting" notice needs to survive a restart.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- Seconds a waiting message was held by a closed office-session gate during the office's
-- working hours (`outbox.working_hours`, in the office time zone). The queue loop adds to it
-- while the gate of the message's transport is closed, so a daemon restart keeps what was
-- counted; evenings, weekends and the time `always` transports are open never count.
-- Auto-replies never accrue it: they expire by themselves and never get a notice.
ALTER TABLE outbox_message ADD COLUMN gate_wait_secs INTEGER NOT NULL DEFAULT 0;

-- When the sender was told that this message still waits (unix seconds), NULL before. Written
-- in the transaction that puts the notice into the INBOX, so a message gets at most one notice
-- and a crash can never tell twice. The newest value per account is also what limits the
-- notices to one per sender per day.
ALTER TABLE outbox_message ADD COLUMN waiting_notice_at INTEGER;
CREATE INDEX outbox_message_waiting_notice ON outbox_message (account, waiting_notice_at);
