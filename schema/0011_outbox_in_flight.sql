-- 0011_outbox_in_flight: which recipients an envelope in flight carries, and indexes to find
-- what follows a queued message's state.
-- Append-only: a shipped migration is never edited; later changes go into a new file.
-- IF NOT EXISTS / OR IGNORE: applying it to a store that already has this table (a test that
-- winds user_version back to replay an earlier migration) changes nothing.

-- A message with more recipients than a send limit allows goes out as several envelopes.
-- The recipients of the envelope about to go are written here in the transaction that commits
-- it (the message's `sending` state for the first, the previous envelope's answers for the
-- next), and deleted in the one that records its answers. So after a crash the queue knows
-- exactly who may have got the message: a message left in `sending` with rows here is
-- `unknown` (those recipients may have it); one without rows stopped between two envelopes,
-- nobody's copy is in doubt, and the rest goes out by itself - never a second copy to anyone.
-- While a message is `unknown` its rows stay, as the record of whose copy is in doubt.
CREATE TABLE IF NOT EXISTS outbox_in_flight (
  message  INTEGER NOT NULL REFERENCES outbox_message(id) ON DELETE CASCADE,
  address  TEXT NOT NULL,
  PRIMARY KEY (message, address)
);

-- A store written before this table existed may hold a message left in `sending` by a crash;
-- any of its pending recipients may have got it, so all of them count as in flight (it stays
-- `unknown` at the next start, as it would have before).
INSERT OR IGNORE INTO outbox_in_flight (message, address)
  SELECT m.id, r.address FROM outbox_message m JOIN outbox_recipient r ON r.message = m.id
  WHERE m.status = 'sending' AND r.status = 'pending';

-- A state change of an outbox message updates the phone's EmailSubmission and the
-- auto-responder's reply record in the same transaction (`store::outbox::follow`), so both are
-- looked up by `outbox_id` on every change: without these indexes each change would scan both
-- tables.
CREATE INDEX IF NOT EXISTS email_submission_outbox ON email_submission (outbox_id);
CREATE INDEX IF NOT EXISTS autoreply_reply_outbox ON autoreply_reply (outbox_id);

