-- 0001: accounts, folders, messages, threads, and the per-account change log.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- One row per configured mailbox (employee or shared). `modseq` is the per-account change
-- counter: every committed write that a device could see takes the next value, in the same
-- transaction as the change itself, so a JMAP /changes can never miss one.
-- `epoch` is random and changes only if the store is rebuilt, invalidating old client states.
CREATE TABLE account (
  id          TEXT PRIMARY KEY,                 -- the mailbox id from the config ("becker", "info")
  modseq      INTEGER NOT NULL DEFAULT 0,
  epoch       TEXT NOT NULL,
  created_at  INTEGER NOT NULL                  -- unix seconds
);

-- The last modseq that touched each object type of an account (the JMAP state of that type),
-- and the lowest modseq the change log can still answer from (older states cannot be
-- calculated). Types: 1 Mailbox, 2 Email, 3 Thread, 4 Identity, 5 EmailSubmission,
-- 6 VacationResponse, 7 EmailDelivery.
CREATE TABLE type_state (
  account     TEXT NOT NULL REFERENCES account(id),
  type        INTEGER NOT NULL,
  modseq      INTEGER NOT NULL,
  low_modseq  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account, type)
) WITHOUT ROWID;

-- Append-only change log: one row per (object, modseq). op: 0 created, 1 updated,
-- 2 destroyed, 3 counts-only update (a Mailbox whose totals changed).
-- Object ids are never reused, which keeps coalescing in /changes simple.
CREATE TABLE change_log (
  account     TEXT NOT NULL,
  type        INTEGER NOT NULL,
  modseq      INTEGER NOT NULL,
  object_id   INTEGER NOT NULL,
  op          INTEGER NOT NULL,
  aux         INTEGER,                          -- e.g. the thread id of an Email
  at          INTEGER NOT NULL,                 -- unix seconds, for the 30-day retention
  PRIMARY KEY (account, type, modseq, object_id)
) WITHOUT ROWID;

-- A mirrored IMAP folder. The three numbers are the server's state after the last sync;
-- a different UIDVALIDITY on the server means every UID we hold for it is void.
CREATE TABLE folder (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  account        TEXT NOT NULL REFERENCES account(id),
  name           TEXT NOT NULL,                 -- the IMAP name, e.g. "INBOX", "Sent"
  role           TEXT,                          -- SPECIAL-USE role: inbox, sent, drafts, trash, junk, archive
  uidvalidity    INTEGER,
  uidnext        INTEGER,
  highestmodseq  INTEGER,
  last_sync_at   INTEGER,
  destroyed      INTEGER NOT NULL DEFAULT 0,    -- 1 once the folder is gone on the server (ids are never reused)
  UNIQUE (account, name)
);

-- Raw RFC 5322 bytes, content-addressed. Nothing a server gave us is ever thrown away,
-- even when it cannot be parsed. JMAP blobs (uploads) live here too.
CREATE TABLE blob (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,    -- ids are never reused (JMAP blobIds)
  sha256      TEXT NOT NULL UNIQUE,
  size        INTEGER NOT NULL,
  data        BLOB NOT NULL,
  created_at  INTEGER NOT NULL
);

-- Conversations, by Message-ID / In-Reply-To / References.
CREATE TABLE thread (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  account     TEXT NOT NULL REFERENCES account(id)
);

-- Every Message-ID a thread has seen (its own and referenced ones), so a later reply
-- finds its conversation even when the parent arrives after it.
CREATE TABLE thread_ref (
  account     TEXT NOT NULL,
  msgid       TEXT NOT NULL,
  thread_id   INTEGER NOT NULL REFERENCES thread(id),
  PRIMARY KEY (account, msgid)
) WITHOUT ROWID;

-- One row per message copy in a folder (a JMAP Email lives in exactly one mailbox).
-- `folder_id` is the mailbox devices see; `imap_folder_id` + `uid` is where the server holds
-- it. They differ only while a move made on a phone waits to be written back, so the sync
-- never mistakes the server's copy for a new message.
-- `uid` is NULL while a message exists only locally (a draft from a phone not yet appended).
-- Address lists and id lists are JSON arrays; keywords is a sorted JSON array of JMAP
-- keywords ("$seen", "$flagged", ...). `parse_error` is set when the raw bytes could not be
-- parsed completely: the message is kept and flagged, never dropped.
CREATE TABLE message (
  -- AUTOINCREMENT: a plain rowid hands the id of a deleted last row to the next insert,
  -- and a JMAP Email id must never name two messages.
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  account         TEXT NOT NULL REFERENCES account(id),
  folder_id       INTEGER NOT NULL REFERENCES folder(id),
  imap_folder_id  INTEGER NOT NULL REFERENCES folder(id),
  uid             INTEGER,
  uidvalidity     INTEGER,
  server_modseq   INTEGER,
  blob_id         INTEGER NOT NULL REFERENCES blob(id),
  thread_id       INTEGER NOT NULL REFERENCES thread(id),
  size            INTEGER NOT NULL,
  received_at     INTEGER NOT NULL,             -- IMAP INTERNALDATE, unix seconds
  sent_at         INTEGER,                      -- Date header, unix seconds
  message_id      TEXT,
  in_reply_to     TEXT NOT NULL DEFAULT '[]',
  refs            TEXT NOT NULL DEFAULT '[]',
  from_addr       TEXT NOT NULL DEFAULT '[]',   -- [{"name":..,"email":..}]
  sender_addr     TEXT NOT NULL DEFAULT '[]',
  to_addr         TEXT NOT NULL DEFAULT '[]',
  cc_addr         TEXT NOT NULL DEFAULT '[]',
  bcc_addr        TEXT NOT NULL DEFAULT '[]',
  reply_to_addr   TEXT NOT NULL DEFAULT '[]',
  subject         TEXT NOT NULL DEFAULT '',
  preview         TEXT NOT NULL DEFAULT '',
  has_attachment  INTEGER NOT NULL DEFAULT 0,
  keywords        TEXT NOT NULL DEFAULT '[]',
  parse_error     TEXT,
  created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX message_imap_uid ON message (imap_folder_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX message_folder ON message (folder_id, received_at);
CREATE INDEX message_account_received ON message (account, received_at);
CREATE INDEX message_thread ON message (thread_id);
CREATE INDEX message_msgid ON message (account, message_id);

-- Keyword changes made on a device and not yet confirmed by the server: the sync applies
-- the server's flags and then these on top, so neither side's change is lost.
CREATE TABLE keyword_pending (
  message_id  INTEGER NOT NULL REFERENCES message(id) ON DELETE CASCADE,
  keyword     TEXT NOT NULL,
  op          INTEGER NOT NULL,                 -- 1 add, 0 remove
  PRIMARY KEY (message_id, keyword)
) WITHOUT ROWID;

-- Server copies a device destroyed or moved away whose expunge is not yet confirmed: the
-- sync must not bring them back as new mail.
CREATE TABLE imap_tombstone (
  folder_id   INTEGER NOT NULL REFERENCES folder(id),
  uid         INTEGER NOT NULL,
  PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;

-- Per-mailbox sync bookkeeping shown by `postbote status`.
CREATE TABLE sync_state (
  account        TEXT PRIMARY KEY REFERENCES account(id),
  last_sync_at   INTEGER,
  last_error     TEXT,
  last_error_at  INTEGER,
  auth_failed    INTEGER NOT NULL DEFAULT 0
);
