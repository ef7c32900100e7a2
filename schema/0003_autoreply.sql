-- 0003_autoreply: automatic replies while someone is on leave.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- The effective leave settings of each mailbox (one row, JMAP VacationResponse id 1).
-- They can come from the config's [mailbox.vacation], from `postbote vacation set` and from a
-- phone; the last writer wins. `config_hash` is the fingerprint of the config section last
-- applied, so a daemon restart re-applies the config only when the config itself changed and
-- never silently undoes what was set from a phone. Times are unix seconds (UTC instants): the
-- config's local dates are converted on the way in, so DST is dealt with exactly once.
CREATE TABLE autoreply_settings (
  account        TEXT PRIMARY KEY REFERENCES account(id),
  enabled        INTEGER NOT NULL DEFAULT 0,
  from_date      INTEGER,                         -- first instant of the leave; NULL: since always
  to_date        INTEGER,                         -- first instant after it (exclusive); NULL: open end
  subject        TEXT,                            -- template, "{subject}" = original; NULL: default
  text_body      TEXT,
  html_body      TEXT,
  internal_body  TEXT,                            -- for senders of the company's own domain
  interval_secs  INTEGER NOT NULL,                -- once per sender per interval (>= 1 day)
  schedule       TEXT NOT NULL DEFAULT '[]',      -- JSON array of 5-field cron expressions (recurring absence)
  answer         TEXT NOT NULL DEFAULT 'everyone',-- 'everyone' or 'known'
  max_per_hour   INTEGER NOT NULL,
  max_age_secs   INTEGER NOT NULL,
  -- Replies queued before this instant are forgotten (`vacation set --reset-memory`). Editing
  -- the text alone keeps the memory: a typo fix must not answer everyone a second time.
  memory_since   INTEGER,
  config_hash    TEXT,
  updated_at     INTEGER NOT NULL
);

-- How far the responder has read each account's new messages, and since when it watches the
-- account: mail received before `armed_at` came with the first sync of old mail and is never
-- answered (`initial_skipped` counts it for status). The position is the Email "created"
-- entry of the change log, (modseq, object id), not the message id alone: message ids are
-- rowids, and SQLite hands the largest one out again once that row is deleted, so a new
-- message could get the id of an expunged one the cursor has already passed. Modseqs never
-- repeat; one transaction creates many messages under one modseq, hence the pair.
CREATE TABLE autoreply_cursor (
  account          TEXT PRIMARY KEY REFERENCES account(id),
  last_modseq      INTEGER NOT NULL,
  last_message_id  INTEGER NOT NULL,
  armed_at         INTEGER NOT NULL,
  initial_skipped  INTEGER NOT NULL DEFAULT 0
);

-- Every reply handed to the outbox. The sender counts as answered only once the outbox says
-- the reply was sent: `state` mirrors the outbox's state of `outbox_id` (refreshed by the
-- responder through `outbox::state`), `sent_at` is when it was first seen sent. A reply that
-- is still queued blocks a second one to the same sender; one that was cancelled, expired
-- or failed does not count at all.
CREATE TABLE autoreply_reply (
  id           INTEGER PRIMARY KEY,
  account      TEXT NOT NULL REFERENCES account(id),
  sender       TEXT NOT NULL,                     -- the decoded return path, lowercased
  thread_id    INTEGER,                           -- the conversation (shared mailboxes answer once per conversation)
  outbox_id    INTEGER NOT NULL,
  message_id   TEXT NOT NULL,                     -- the reply's Message-ID, without brackets
  queued_at    INTEGER NOT NULL,
  state        TEXT NOT NULL DEFAULT 'queued',    -- queued, sending, deferred, unknown, sent, failed, cancelled, expired, gone
  sent_at      INTEGER
);
CREATE INDEX autoreply_reply_sender ON autoreply_reply (account, sender, queued_at);
CREATE INDEX autoreply_reply_thread ON autoreply_reply (account, thread_id);
CREATE INDEX autoreply_reply_open ON autoreply_reply (state) WHERE state IN ('queued', 'sending', 'deferred', 'unknown');

-- Every decision with its reason code, for `status` counts and for finding out later why a
-- customer did or did not get a reply. `message` is the store id and has no foreign key on
-- purpose: the message may be expunged, the record of what was decided stays.
CREATE TABLE autoreply_decision (
  id              INTEGER PRIMARY KEY,
  account         TEXT NOT NULL REFERENCES account(id),
  message         INTEGER,
  rfc_message_id  TEXT,
  sender          TEXT,
  subject         TEXT NOT NULL DEFAULT '',
  decided_at      INTEGER NOT NULL,
  reply           INTEGER NOT NULL,                 -- 1 reply, 0 skip
  reason          TEXT NOT NULL,                    -- autoreply::Reason code
  detail          TEXT NOT NULL DEFAULT '',
  reply_id        INTEGER REFERENCES autoreply_reply(id)  -- NULL when skipped or the outbox refused it
);
CREATE INDEX autoreply_decision_reason ON autoreply_decision (account, reason);
CREATE INDEX autoreply_decision_msgid ON autoreply_decision (account, rfc_message_id);
