-- 0007_search_text: the decoded body text that JMAP `text` and `body` searches look in.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- Searching the raw bytes misses every body sent base64 or quoted-printable (most mail from
-- phones and Outlook) and every non-UTF-8 charset. This keeps each message's body as text:
-- transfer encoding and charset decoded, HTML as text, lowercased, at most 100,000
-- characters (message::SEARCH_CHARS). Messages stored before this migration are filled in
-- by the store when it applies it (store::migrate), from their raw bytes.
CREATE TABLE message_text (
  message_id  INTEGER PRIMARY KEY REFERENCES message(id) ON DELETE CASCADE,
  body        TEXT NOT NULL
);
