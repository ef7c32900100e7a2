-- 0014_packed_search_text: the search text of 0007 is kept LZ4-packed.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- message_text.body now holds a BLOB: the search text (as 0007 describes it) packed with LZ4,
-- its length in front (store::search_text::pack). A verbatim copy made every full sync of
-- text mail write each body twice over, through the log and then the file. Searches call
-- search_text_contains(body, needle), which unpacks and answers as instr(body, needle) > 0
-- did. The texts stored before are packed by the store when it applies this migration
-- (store::search_text::pack_stored); the table itself is unchanged.
SELECT 1;
