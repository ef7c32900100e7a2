-- 0003_autoreply: reserved for its feature; filled before the first release.
SELECT 1;
