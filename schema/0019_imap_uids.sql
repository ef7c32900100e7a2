-- 0019: the IMAP server's own UIDs for phones' mail apps (`store::imap_uids`).
-- A store folder (a JMAP mailbox) gets a UIDVALIDITY and a counter the first time an IMAP
-- session looks at it; its messages get UIDs lazily, in message-id order, when a session looks
-- again (never in the mirror's insert path, which must stay fast). A UID is never reused: a
-- message that leaves the folder (expunged, destroyed on a phone, moved away) keeps its row
-- with `expunged = 1`, which is also what QRESYNC's VANISHED (EARLIER) answers from; a message
-- moved in gets a new UID. `synced_modseq` is the account modseq up to which the rows follow
-- the change log; a row's `modseq` is that of its last change (its MODSEQ), so a folder's
-- HIGHESTMODSEQ is `highest_modseq`. `deleted` is IMAP's \Deleted, which is no JMAP keyword:
-- every session sees it, and EXPUNGE destroys those messages as Email/set destroy does.
-- IF NOT EXISTS: a store whose user_version was set back runs this again.
CREATE TABLE IF NOT EXISTS imap_folder (
  folder_id       INTEGER PRIMARY KEY REFERENCES folder(id),
  uidvalidity     INTEGER NOT NULL,
  uidnext         INTEGER NOT NULL DEFAULT 1,
  synced_modseq   INTEGER NOT NULL DEFAULT -1,
  highest_modseq  INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS imap_uid (
  folder_id   INTEGER NOT NULL REFERENCES imap_folder(folder_id),
  uid         INTEGER NOT NULL,
  message_id  INTEGER NOT NULL,                 -- message.id; the row outlives the message
  modseq      INTEGER NOT NULL,
  deleted     INTEGER NOT NULL DEFAULT 0,
  expunged    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS imap_uid_live ON imap_uid (folder_id, message_id) WHERE expunged = 0;
