-- 0016_push: JMAP push subscriptions (RFC 8620 section 7.2).
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- One row per PushSubscription. A subscription belongs to the device (the JMAP credential)
-- that made it: RFC 8620 says another credential must neither see nor change it, so every
-- statement of the devices' side names the device. Revoking a device stops its pushes (the
-- delivery reads only rows of live devices); deleting a device row takes its rows along.
--
-- `url` and the Web Push keys (`p256dh`: the phone's 65-byte P-256 public key, `auth`: its
-- 16-byte secret, both NULL when the phone asked for no encryption) are secrets of the phone's
-- push service: they are never returned to a client nor written to a log.
-- `server_code` is the verification code we POST to the URL at creation; `client_code` is
-- what the client set since. Nothing but that PushVerification goes to the URL until the two
-- are equal. `verification_sent` is set once the push service took the verification, so a
-- restart sends it again only when it did not arrive.
-- `expires` (unix seconds) is always set, clamped by the server; an expired row is removed.
-- `types` is a JSON array of type names, or NULL for every type.
-- AUTOINCREMENT: a subscription id is never reused, so a destroyed one's late retries can
-- never reach a new one's URL under the same id.
-- IF NOT EXISTS: the statements can be applied again to a store that already has them.
CREATE TABLE IF NOT EXISTS push_subscription (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  device             INTEGER NOT NULL REFERENCES device(id) ON DELETE CASCADE,
  device_client_id   TEXT NOT NULL,
  url                TEXT NOT NULL,
  p256dh             BLOB,
  auth               BLOB,
  server_code        TEXT NOT NULL,
  client_code        TEXT,
  verification_sent  INTEGER NOT NULL DEFAULT 0,
  expires            INTEGER NOT NULL,
  types              TEXT,
  created_at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS push_subscription_device ON push_subscription (device);
