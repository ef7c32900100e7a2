-- 0021: one-time links to a new phone's setup profile (`postbote device add`).
-- The profile holds the device token in clear, so nothing here may reveal it: the link's
-- secret is kept only as its SHA-256 (to find the row), and the profile only sealed
-- (AES-256-GCM) under a key derived from that secret, which the store never sees. `sealed`
-- becomes NULL when the profile is downloaded, when the link expires and when the device is
-- revoked; the row stays a while longer so that a second use answers "gone" rather than
-- "unknown", then it is deleted.
CREATE TABLE IF NOT EXISTS setup_link (
  link_sha256  TEXT PRIMARY KEY,
  device       INTEGER NOT NULL REFERENCES device(id),
  sealed       BLOB,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  used_at      INTEGER
);
