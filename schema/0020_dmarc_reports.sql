-- 0020_dmarc_reports: what the receivers themselves say about the company's mail, read from
-- the DMARC aggregate reports (RFC 7489 appendix C) that arrive in `doctor.reports_mailbox`.
--
-- Receivers send one report per reporting period, and may send it again (a retry, a second
-- rua address): a report is kept once per (reporter org, report id), and its figures are added
-- to `dmarc_day` only by the transaction that keeps it, so a report that comes twice is never
-- counted twice. Like 0017, every table is made only if missing, so that the tests that set
-- `user_version` back and open the store again can run this migration twice.

-- Where the collector is in each reports mailbox: the highest message id it has looked at.
-- Message ids are never reused (AUTOINCREMENT), so a message past the cursor is new.
CREATE TABLE IF NOT EXISTS dmarc_cursor (
  account       TEXT PRIMARY KEY REFERENCES account(id) ON DELETE CASCADE,
  last_message  INTEGER NOT NULL
);

-- Each report once. `message` is the store's id of the mail it came in (no reference: the mail
-- may be deleted while the figures stay), `rfc_message_id` its Message-ID.
CREATE TABLE IF NOT EXISTS dmarc_report (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  account         TEXT NOT NULL,
  message         INTEGER NOT NULL,
  rfc_message_id  TEXT,
  org_name        TEXT NOT NULL,                -- <org_name>, "google.com", "Enterprise Outlook"
  reporter        TEXT NOT NULL,                -- the organisational domain of the report's <email>
  report_id       TEXT NOT NULL,
  date_begin      INTEGER NOT NULL,             -- unix seconds, as the report says
  date_end        INTEGER NOT NULL,
  policy_domain   TEXT NOT NULL,                -- <policy_published>: what the receiver saw in DNS
  policy_p        TEXT NOT NULL,
  policy_sp       TEXT NOT NULL,
  policy_adkim    TEXT NOT NULL,
  policy_aspf     TEXT NOT NULL,
  records         INTEGER NOT NULL,
  messages        INTEGER NOT NULL,             -- the sum of the records' counts
  stored_at       INTEGER NOT NULL,
  UNIQUE (org_name, report_id)
);

-- A mail in the reports folder that could not be read as a report: kept, with the reason, so
-- that `doctor reports` can list it; never retried (the bytes do not change).
CREATE TABLE IF NOT EXISTS dmarc_broken (
  account         TEXT NOT NULL,
  message         INTEGER NOT NULL,
  rfc_message_id  TEXT,
  subject         TEXT NOT NULL,
  error           TEXT NOT NULL,
  stored_at       INTEGER NOT NULL,
  PRIMARY KEY (account, message)
);

-- The figures: messages per day (UTC day number of the report period's middle), source IP,
-- sending path as the collector classified the IP, reporter and result. Rows with the same key
-- from different reports add up.
CREATE TABLE IF NOT EXISTS dmarc_day (
  day           INTEGER NOT NULL,
  source_ip     TEXT NOT NULL,
  path          TEXT NOT NULL CHECK (path IN ('direct', 'relay', 'unknown')),
  reporter      TEXT NOT NULL,
  header_from   TEXT NOT NULL,
  spf           TEXT NOT NULL,                  -- the raw SPF result the receiver saw
  spf_aligned   INTEGER NOT NULL,               -- <policy_evaluated><spf> = pass
  dkim          TEXT NOT NULL,                  -- the best raw DKIM result (pass if any signature passed)
  dkim_aligned  INTEGER NOT NULL,               -- <policy_evaluated><dkim> = pass
  disposition   TEXT NOT NULL,                  -- none, quarantine, reject (what the receiver did)
  dmarc_pass    INTEGER NOT NULL,               -- aligned SPF or aligned DKIM
  messages      INTEGER NOT NULL,
  PRIMARY KEY (day, source_ip, path, reporter, header_from, spf, spf_aligned, dkim, dkim_aligned, disposition)
) WITHOUT ROWID;
