-- 0012_sent_copy_refusals: a Sent copy the server refuses is not tried forever.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- One row per sent message whose copy the server refused (a tagged NO to its own APPEND, not
-- a broken connection: that is retried without counting). `refusals` counts them; after the
-- third the copy is set aside (`set_aside_at`, unix seconds): the queue stops trying, the
-- message's audit trail says why, and `postbote status` can count it. The message itself
-- stays `sent`: it reached its recipients, only the copy is missing. A table of its own
-- rather than columns on outbox_message, like outbox_wait, so the statements can be applied
-- again to a store that already has them.
CREATE TABLE IF NOT EXISTS outbox_sent_copy_refusal (
  message      INTEGER PRIMARY KEY REFERENCES outbox_message(id) ON DELETE CASCADE,
  account      TEXT NOT NULL,
  refusals     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT NOT NULL,
  set_aside_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_sent_copy_refusal_account ON outbox_sent_copy_refusal (account, set_aside_at);
