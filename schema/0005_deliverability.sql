-- 0005_deliverability: reserved for its feature; filled before the first release.
SELECT 1;
