-- 0018: device tokens serve IMAP and SMTP submission as well as JMAP.
-- `device_use` is the protocol a device last used ("jmap", "imap", "smtp"), beside the
-- device's `last_used_at`, for `device list`. `device_connection` holds the daemon's open IMAP
-- and SMTP connections, one row each while it lasts, so `status` (another process) can show
-- who is connected; the daemon empties it when it starts, since a crash cannot close its rows.
CREATE TABLE IF NOT EXISTS device_use (
  device    INTEGER PRIMARY KEY REFERENCES device(id),
  protocol  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS device_connection (
  id        INTEGER PRIMARY KEY,
  device    INTEGER NOT NULL REFERENCES device(id),
  protocol  TEXT NOT NULL,
  since     INTEGER NOT NULL
);
