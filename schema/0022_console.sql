-- 0022: the office console's accounts, login sessions and audit log.
-- A password is kept only as its Argon2id hash (PHC string), a session only as the SHA-256 of
-- its cookie value: a copy of the store lets nobody in. `mailbox` binds an employee account to
-- its one mailbox (NULL for office accounts). Sessions end at `expires_at` (absolute) or when
-- `last_seen` is older than the idle limit, whichever comes first.
-- IF NOT EXISTS: applying it again to a store whose version was wound back loses nothing.
CREATE TABLE IF NOT EXISTS console_user (
  name           TEXT PRIMARY KEY,
  role           TEXT NOT NULL CHECK (role IN ('office', 'employee')),
  mailbox        TEXT,
  password_hash  TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  CHECK ((role = 'office') = (mailbox IS NULL))
);

CREATE TABLE IF NOT EXISTS console_session (
  id_sha256   TEXT PRIMARY KEY,
  user        TEXT NOT NULL REFERENCES console_user(name) ON DELETE CASCADE,
  created_at  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);

-- Who did what in the console, and when. `detail` never holds a password or token.
CREATE TABLE IF NOT EXISTS console_audit (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  user    TEXT NOT NULL,
  action  TEXT NOT NULL,
  detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS console_audit_at ON console_audit (at);
