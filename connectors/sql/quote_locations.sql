-- The latest grounded quotes in each document of _keys (doc_id), with their offsets, page and
-- line: where the report finds a clause-matrix quote in its document's text.
SELECT doc_id, profile, field, quote, char_start, char_end, page, line
FROM latest_extractions JOIN _keys USING (doc_id)
ORDER BY doc_id, field, char_start NULLS LAST
