-- 0002_outbox: the durable outbound queue, its audit trail, and the office-session registry.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- One row per message to send. Queue state is data (the policy deciding what happens next is
-- a pure function in `outbox::retry`), so a crash can never lose a decision.
--   status: queued    waiting for its first attempt
--           sending   handed to an SMTP session; written (and committed) before MAIL FROM,
--                     so a row still in this state at start-up means the daemon died while
--                     the server may already have accepted it: it becomes `unknown`
--           deferred  a temporary failure; `due_at` is the next attempt
--           sent      the final 250 for every deliverable recipient is recorded
--           failed    every recipient failed permanently
--           cancelled a person (or `discard_after`) dropped it before it was sent
--           expired   `outbox.lifetime` of open-gate time ran out
--           unknown   the outcome of an attempt was never recorded; a person decides
--   origin: who asked for it (office, phone, autoreply, notice).
-- `open_secs` counts only time the sending gate was open while the message waited, so a closed
-- office (holidays) does not use up its lifetime. `raw` is exactly what is sent (CRLF lines,
-- Bcc removed, Message-ID and Date present); the From header is rewritten at send time only
-- where the transport demands it.
CREATE TABLE outbox_message (
  id              INTEGER PRIMARY KEY,
  account         TEXT NOT NULL REFERENCES account(id),
  status          TEXT NOT NULL CHECK (status IN
                    ('queued','sending','deferred','sent','failed','cancelled','expired','unknown')),
  origin          TEXT NOT NULL CHECK (origin IN ('office','phone','autoreply','notice')),
  message_id      TEXT NOT NULL,                -- without angle brackets
  from_addr       TEXT NOT NULL,                -- the company address in From (lowercase)
  subject         TEXT NOT NULL DEFAULT '',
  raw             BLOB NOT NULL,
  created_at      INTEGER NOT NULL,             -- unix seconds
  due_at          INTEGER NOT NULL,             -- next attempt, unix seconds
  discard_after   INTEGER,                      -- not sent by then: cancelled, never sent late
  open_secs       INTEGER NOT NULL DEFAULT 0,   -- open-gate seconds spent waiting (for expiry)
  attempts        INTEGER NOT NULL DEFAULT 0,   -- SMTP sessions that tried it
  last_error      TEXT,
  waiting         TEXT,                         -- why it is not being sent right now, for people
  checked_at      INTEGER,                      -- when the queue loop last looked at it
  sent_at         INTEGER,
  resolved        TEXT,                         -- how a final state was reached other than by a 250
  sent_copy_done  INTEGER NOT NULL DEFAULT 0,   -- 1 once the copy is in the Sent folder
  sent_copy_tries INTEGER NOT NULL DEFAULT 0,   -- >0: an APPEND may have happened; search before another
  updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_message_due ON outbox_message (status, due_at);
CREATE INDEX outbox_message_account ON outbox_message (account, status);
CREATE INDEX outbox_message_msgid ON outbox_message (message_id);

-- Per-recipient state: one rejected recipient never sinks the others (Postfix's "DONE" records).
--   status: pending (not yet accepted), sent (the message's final 250 covered it),
--           failed (5xx: a notice went to the sender's INBOX)
CREATE TABLE outbox_recipient (
  message     INTEGER NOT NULL REFERENCES outbox_message(id) ON DELETE CASCADE,
  address     TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('pending','sent','failed')),
  code        INTEGER,                          -- the last reply code for this recipient
  text        TEXT,
  PRIMARY KEY (message, address)
) WITHOUT ROWID;

-- The audit trail a person reads (`postbote queue show ID`): every attempt and every answer.
-- `code` is NULL when there was no SMTP reply (connection, TLS or timeout); `recipient` is
-- NULL for what concerns the whole message. Never holds a credential.
CREATE TABLE outbox_attempt (
  id          INTEGER PRIMARY KEY,
  message     INTEGER NOT NULL REFERENCES outbox_message(id) ON DELETE CASCADE,
  at          INTEGER NOT NULL,
  server      TEXT NOT NULL,                    -- "smtp.bau-firma.de:587 (direct)", or "postbote"
  recipient   TEXT,
  code        INTEGER,
  text        TEXT NOT NULL
);
CREATE INDEX outbox_attempt_message ON outbox_attempt (message, id);

-- A mailbox whose outgoing login was refused: nothing is sent for it until the password changes
-- (`fingerprint` is a salted hash of login and password, never the password) or a person runs
-- `postbote queue retry`. Retrying blindly would get the account locked by the provider.
CREATE TABLE outbox_pause (
  account     TEXT PRIMARY KEY REFERENCES account(id),
  transport   TEXT NOT NULL,
  reason      TEXT NOT NULL,
  at          INTEGER NOT NULL,
  salt        TEXT NOT NULL,
  fingerprint TEXT NOT NULL
);

-- Logged-in office sessions. The gate of a transport with send_while = "session" is open while
-- any session's lease is unexpired and it has not logged out. Leases (not a "logged in" flag)
-- make a crashed office program close the gate by itself. Kept in SQLite so the command line and
-- the daemon, two processes, agree.
CREATE TABLE office_session (
  id           TEXT PRIMARY KEY,                -- random, the handle for heartbeat and logout
  user         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  lease_until  INTEGER NOT NULL,                -- unix seconds
  ttl_secs     INTEGER NOT NULL,                -- a heartbeat renews by this much
  ended_at     INTEGER                          -- logout
);
CREATE INDEX office_session_lease ON office_session (lease_until);
