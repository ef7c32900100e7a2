-- 0004_jmap: reserved for its feature; filled before the first release.
SELECT 1;
