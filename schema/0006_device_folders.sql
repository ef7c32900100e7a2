-- 0006_device_folders: folders a phone created or renamed are mirrored like configured ones;
-- the folder hierarchy, for JMAP's parentId; phone changes the server refused for good.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- The config names the folders to mirror (by role or name). A folder made or renamed through
-- JMAP is not in that list, so without this mark the mirror's next look at the server's
-- folder list would drop it from the store, and the mail moved into it with it.
ALTER TABLE folder ADD COLUMN by_device INTEGER NOT NULL DEFAULT 0;
-- Folders a phone made or renamed before this mark existed, whose change still waits.
UPDATE folder SET by_device = 1
 WHERE id IN (SELECT folder_id FROM writeback_op WHERE kind IN ('create', 'rename') AND folder_id IS NOT NULL);

-- The hierarchy delimiter of the account's folder names as the server's LIST gives it ("/" on
-- Dovecot, often "." elsewhere); NULL until the first LIST, or for a server without hierarchy.
-- JMAP derives parentId and the short mailbox name from the full names with it.
ALTER TABLE account ADD COLUMN delimiter TEXT;

-- A phone's change the server refused GIVE_UP_AFTER times is dropped from the write-back
-- queue (the server's state wins); `status` says how many and the last one, so nobody has to
-- find out from a log.
ALTER TABLE sync_state ADD COLUMN writeback_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN writeback_last_dropped TEXT;
ALTER TABLE sync_state ADD COLUMN writeback_last_dropped_at INTEGER;
