-- 0015_writeback_retry_and_subscriptions: a refused phone change waits before it is tried
-- again; a give-up says what was undone; folders keep a phone's sortOrder and isSubscribed.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- An op's id is never used again (AUTOINCREMENT). SQLite otherwise gives a new row the
-- largest id + 1, so an op queued after the newest one was deleted took that op's id: when a
-- phone destroyed a message whose APPEND was under way, the expunge of the new server copy
-- could get the APPEND op's id and be deleted with it when the APPEND was confirmed, leaving
-- the copy on the server for good (tombstoned here, so the phone never saw it again). Ids
-- also order the queue: a reused id put a new op before ops the write-back had passed.
-- due_at: a refused op is retried on a growing schedule (seconds, then minutes, then hours)
-- instead of on the next drain, so a burst of traffic cannot use up its attempts within a
-- second. NULL: due now. The mirror wakes for the earliest due op.
CREATE TABLE writeback_op_new (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  account     TEXT NOT NULL REFERENCES account(id),
  kind        TEXT NOT NULL,
  message_id  INTEGER,
  folder_id   INTEGER,
  uid         INTEGER,
  name        TEXT,
  old_name    TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  created_at  INTEGER NOT NULL,
  due_at      INTEGER,
  waits_for   INTEGER
);
-- waits_for: the op (of any account) this one waits for while it is queued; when that op is
-- given up, this one is dropped and undone too. The expunge of an original moved to another
-- account by Email/copy with onSuccessDestroyOriginal waits for the copy's APPEND: the
-- original leaves its server only once the copy is on the other.
-- Run again (tests reset user_version), the table already has due_at, waits_for and an id
-- counter: all are kept. An unqualified column in a subquery is the old table's when it has
-- one, else the NULL of `fallback` (a name the subquery does not find is looked up outside).
INSERT INTO writeback_op_new (id, account, kind, message_id, folder_id, uid, name, old_name, attempts, last_error, created_at,
    due_at, waits_for)
  SELECT w.id, w.account, w.kind, w.message_id, w.folder_id, w.uid, w.name, w.old_name, w.attempts, w.last_error,
         w.created_at, (SELECT due_at FROM writeback_op x WHERE x.id = w.id),
         (SELECT waits_for FROM writeback_op x WHERE x.id = w.id)
  FROM writeback_op w, (SELECT NULL AS due_at, NULL AS waits_for) AS fallback;
UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'writeback_op'))
  WHERE name = 'writeback_op_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'writeback_op');
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'writeback_op_new', seq FROM sqlite_sequence WHERE name = 'writeback_op'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'writeback_op_new');
DROP TABLE writeback_op;
ALTER TABLE writeback_op_new RENAME TO writeback_op;
CREATE INDEX writeback_op_account ON writeback_op (account, id);
CREATE INDEX writeback_op_message ON writeback_op (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX writeback_op_waits_for ON writeback_op (waits_for) WHERE waits_for IS NOT NULL;

-- A message copied by Email/copy (copy_id, in the target account) from an original of another
-- account: the original's expunge, if onSuccessDestroyOriginal asks for it, waits for the
-- copy's APPEND. Dropped with the original.
CREATE TABLE IF NOT EXISTS copy_origin (
  copy_id     INTEGER PRIMARY KEY,
  original_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS copy_origin_original ON copy_origin (original_id);

-- Every change given up for good, with what the store undid so that it shows the server's
-- state (the message shown where the server keeps it, the folder's old name): `status` shows
-- the last one, the log keeps them all. (A table of its own, as every statement here can run
-- again on a store that has it.)
CREATE TABLE IF NOT EXISTS writeback_given_up (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  account     TEXT NOT NULL REFERENCES account(id),
  at          INTEGER NOT NULL,
  what        TEXT NOT NULL,
  error       TEXT NOT NULL,
  undone      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS writeback_given_up_account ON writeback_given_up (account, id);

-- RFC 8621 Mailbox.sortOrder and isSubscribed of a folder; no row: the defaults (the order by
-- role; subscribed, as postbote showed every folder before). sortOrder is a phone's own:
-- IMAP has nothing like it, so it lives only here and a sync never touches it. isSubscribed
-- is written back as SUBSCRIBE / UNSUBSCRIBE ('subscribe' ops: folder_id, name, uid = 1 or 0).
CREATE TABLE IF NOT EXISTS folder_pref (
  folder_id   INTEGER PRIMARY KEY REFERENCES folder(id),
  sort_order  INTEGER,
  subscribed  INTEGER NOT NULL DEFAULT 1
);
