-- 0004_jmap: devices that sync over JMAP, blobs they uploaded, and the durable queue of
-- changes they made that still have to be written back to IMAP.

-- One row per phone (or other JMAP client). The token itself is shown once by
-- `postbote device add` and never stored: only its SHA-256, so a copy of the store does not
-- let anyone in. `grants` is a JSON array of further (shared) mailbox ids the device may see
-- as extra JMAP accounts. A revoked device keeps its row (for `device list`) but never
-- authenticates again.
CREATE TABLE device (
  id            INTEGER PRIMARY KEY,
  mailbox       TEXT NOT NULL REFERENCES account(id),
  name          TEXT NOT NULL,
  token_sha256  TEXT NOT NULL UNIQUE,
  grants        TEXT NOT NULL DEFAULT '[]',
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER,
  revoked_at    INTEGER
);

-- Who uploaded which blob: RFC 8620 section 6 says an upload nobody references yet is visible
-- only to its uploader; the blob bytes themselves live in `blob` (content-addressed).
-- Rows older than a day are purged with the change log (a draft that used the upload
-- references the blob through its message, so it stays downloadable).
CREATE TABLE blob_upload (
  blob_id     INTEGER NOT NULL REFERENCES blob(id),
  account     TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (blob_id, account)
) WITHOUT ROWID;

-- The write-back queue: what a device changed, in the order it changed it, until the IMAP
-- task has done it on the server. A row is deleted only once the server confirmed the
-- command, so an IMAP outage (or a crash) loses nothing. kind:
--   'flags'   UID STORE of the message's keyword_pending rows (message_id)
--   'move'    UID MOVE of the server copy to the message's folder (message_id)
--   'expunge' UID STORE \Deleted + UID EXPUNGE of folder_id/uid (an imap_tombstone row
--             keeps the sync from bringing the copy back meanwhile)
--   'append'  APPEND of a message that exists only locally, e.g. a draft (message_id)
--   'create' / 'rename' / 'delete'  of a folder (folder_id; name = new name, old_name)
-- An op the server refuses (NO) several times is dropped with a warning and its error kept in
-- the log: one bad item never blocks the queue.
CREATE TABLE writeback_op (
  id          INTEGER PRIMARY KEY,
  account     TEXT NOT NULL REFERENCES account(id),
  kind        TEXT NOT NULL,
  message_id  INTEGER,
  folder_id   INTEGER,
  uid         INTEGER,
  name        TEXT,
  old_name    TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  created_at  INTEGER NOT NULL
);
CREATE INDEX writeback_op_account ON writeback_op (account, id);

-- /changes needs "which objects changed after modseq X" per account and type: the change_log
-- primary key already starts with (account, type, modseq), so no further index is needed.
-- The message list of one mailbox sorted by date is answered by message_folder.

-- A phone's EmailSubmission: which email it sent, as which identity, and the outbound
-- queue entry that carries it. Its undoStatus/deliveryStatus are read from the queue's state
-- (outbox_message), never copied, so they cannot drift apart.
CREATE TABLE email_submission (
  id           INTEGER PRIMARY KEY,
  account      TEXT NOT NULL REFERENCES account(id),
  email_id     INTEGER NOT NULL,                -- may be destroyed since (onSuccessDestroyEmail)
  thread_id    INTEGER NOT NULL,
  identity     TEXT NOT NULL,
  outbox_id    INTEGER NOT NULL,
  envelope     TEXT NOT NULL,                   -- JSON {mailFrom, rcptTo} as JMAP shows it
  send_at      INTEGER NOT NULL,
  destroyed    INTEGER NOT NULL DEFAULT 0,
  -- The queue state last seen, so a change of it (queued -> sent) is logged as an
  -- EmailSubmission update and pushed; NULL until first looked at.
  last_status  TEXT
);
CREATE INDEX email_submission_account ON email_submission (account, id);

-- JMAP ids are message row ids and are never reused: `message` uses AUTOINCREMENT (0001).
