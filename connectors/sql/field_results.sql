-- Each parsed document of a source with, per field of a profile, its latest state (NULL: the
-- document was never reviewed with the profile) and its latest grounded extractions.
WITH docs AS (
    SELECT DISTINCT ON (doc_id) doc_id, relpath FROM current_documents
    WHERE source = $source AND status = 'ok' AND doc_id IS NOT NULL
    ORDER BY doc_id, relpath
)
SELECT d.doc_id, d.relpath, s.field, s.state, e.value, e.quote, e.char_start, e.char_end,
       e.page, e.line
FROM docs d
LEFT JOIN latest_field_states s ON s.doc_id = d.doc_id AND s.profile = $profile
LEFT JOIN latest_extractions e
       ON e.doc_id = d.doc_id AND e.profile = $profile AND e.field = s.field
ORDER BY d.relpath, s.field, e.char_start
