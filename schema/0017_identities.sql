-- 0017_identities: what a phone set on an identity (RFC 8621 section 6.3).
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- The identities themselves are the mailbox's company addresses in the config; a phone may
-- change their name, replyTo, bcc and signatures but not make or remove one. The row is keyed
-- by the address (lowercased, as the config keeps it), not by the identity's position in the
-- config, so that reordering the addresses does not move a signature to another address. An
-- address taken out of the config leaves its row unused, and it applies again if the address
-- comes back. `name` NULL means the config's mailbox name; `reply_to` and `bcc` are JSON
-- arrays of {name, email} or NULL, as JMAP has them.
CREATE TABLE IF NOT EXISTS identity_setting (
  account         TEXT NOT NULL REFERENCES account(id),
  email           TEXT NOT NULL,
  name            TEXT,
  reply_to        TEXT,
  bcc             TEXT,
  text_signature  TEXT NOT NULL DEFAULT '',
  html_signature  TEXT NOT NULL DEFAULT '',
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (account, email)
) WITHOUT ROWID;
