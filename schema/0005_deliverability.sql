-- 0005_deliverability: the doctor's last verdict per mailbox, company domain and sending path.
--
-- One row per (account, domain, transport), replaced by every check: `status` shows the latest,
-- and the daily check compares with the previous one to warn when a verdict gets worse. No
-- history is kept; the warning in the log is the record of a change.
CREATE TABLE deliverability_verdict (
  account     TEXT NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  domain      TEXT NOT NULL,                    -- the company domain in From
  transport   TEXT NOT NULL CHECK (transport IN ('direct', 'relay')),
  configured  INTEGER NOT NULL,                 -- 1 when this is the path the mailbox sends on
  level       TEXT NOT NULL CHECK (level IN ('ok', 'at_risk', 'will_fail', 'could_not_check')),
  -- The last verdict that said something about the domain. "could not check" (DNS did not
  -- answer) must neither hide a known problem nor count as getting better or worse, so the
  -- comparison uses this column, which such a check leaves unchanged.
  definite_level TEXT CHECK (definite_level IN ('ok', 'at_risk', 'will_fail')),
  reason_de   TEXT NOT NULL,
  reason_en   TEXT NOT NULL,
  fix_de      TEXT,
  fix_en      TEXT,
  report      TEXT NOT NULL,                    -- facts and findings as JSON (for `status --json`)
  checked_at  INTEGER NOT NULL,                 -- unix seconds
  PRIMARY KEY (account, domain, transport)
);
