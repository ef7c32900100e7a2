-- 0023_dmarc_seen: the DMARC collector reads every message of the reports folder it has not
-- read yet, and the figures are classified by sending path when they are read, not when kept.
--
-- 0020 kept a cursor (the highest message id looked at) per reports mailbox. But a message
-- moved into the reports folder by a phone or another IMAP client keeps its row id, so one
-- moved in after newer ones were read was never read. Now each message read is kept in
-- `dmarc_seen` (a report, a broken one, or other mail passed over), in the same transaction as
-- what it was; the collector reads the folder's messages that have no row there.
--
-- 0020 also kept the path (direct, relay, unknown) in each day row, decided from DNS when the
-- report was stored: a DNS failure at that moment filed the company's own mail under "unknown"
-- for good, and a `doctor.direct_ips` added later changed nothing. Now the rows keep the source
-- address only, and the path is decided from it each time the figures are read.
--
-- Like 0020, every table is made only if missing, so this migration can run twice.

-- One row per message of a reports folder that was read: what it turned out to be.
CREATE TABLE IF NOT EXISTS dmarc_seen (
  message  INTEGER PRIMARY KEY REFERENCES message(id) ON DELETE CASCADE,
  what     TEXT NOT NULL CHECK (what IN ('report', 'broken', 'passed'))
);

-- What 0020 read is not carried over from the cursor (it also passed over messages of other
-- folders): the collector reads the folder once more, and a report kept before adds nothing
-- (UNIQUE (org_name, report_id)), a broken one is kept once. The reports and broken mails
-- already kept are marked, which spares reading them again.
INSERT OR IGNORE INTO dmarc_seen (message, what)
  SELECT r.message, 'report' FROM dmarc_report r WHERE EXISTS (SELECT 1 FROM message m WHERE m.id = r.message);
INSERT OR IGNORE INTO dmarc_seen (message, what)
  SELECT b.message, 'broken' FROM dmarc_broken b WHERE EXISTS (SELECT 1 FROM message m WHERE m.id = b.message);
DROP TABLE IF EXISTS dmarc_cursor;

-- The figures: messages per day (UTC day number of the report period's middle), source IP,
-- reporter and result. Rows with the same key from different reports add up. No path: it is
-- decided from `source_ip` when the figures are read.
CREATE TABLE IF NOT EXISTS dmarc_source_day (
  day           INTEGER NOT NULL,
  source_ip     TEXT NOT NULL,
  reporter      TEXT NOT NULL,
  header_from   TEXT NOT NULL,
  spf           TEXT NOT NULL,                  -- the raw SPF result the receiver saw
  spf_aligned   INTEGER NOT NULL,               -- <policy_evaluated><spf> = pass
  dkim          TEXT NOT NULL,                  -- the best raw DKIM result (pass if any signature passed)
  dkim_aligned  INTEGER NOT NULL,               -- <policy_evaluated><dkim> = pass
  disposition   TEXT NOT NULL,                  -- none, quarantine, reject (what the receiver did)
  dmarc_pass    INTEGER NOT NULL,               -- aligned SPF or aligned DKIM
  messages      INTEGER NOT NULL,
  PRIMARY KEY (day, source_ip, reporter, header_from, spf, spf_aligned, dkim, dkim_aligned, disposition)
) WITHOUT ROWID;

INSERT OR IGNORE INTO dmarc_source_day (day, source_ip, reporter, header_from, spf, spf_aligned, dkim, dkim_aligned,
                                        disposition, dmarc_pass, messages)
  SELECT day, source_ip, reporter, header_from, spf, spf_aligned, dkim, dkim_aligned, disposition, max(dmarc_pass),
         sum(messages)
  FROM dmarc_day
  GROUP BY day, source_ip, reporter, header_from, spf, spf_aligned, dkim, dkim_aligned, disposition;
DROP TABLE IF EXISTS dmarc_day;
