-- 0002_outbox: reserved for its feature; filled before the first release.
SELECT 1;
