-- Documents of a source that are ready for review with a profile version: parsed, with text,
-- and (unless forced) not reviewed yet for that version by that backend.
SELECT d.doc_id, d.relpath, d.kind, t.tokens, d.pages, d.lines, t.page_token_starts
FROM (SELECT DISTINCT ON (doc_id) * FROM current_documents
      WHERE source = $source AND status = 'ok' AND doc_id IS NOT NULL
      ORDER BY doc_id, relpath) d
JOIN (SELECT DISTINCT ON (doc_id) doc_id, tokens, page_token_starts FROM document_texts) t
    USING (doc_id)
WHERE $force OR NOT EXISTS (
    SELECT 1 FROM document_reviews r
    WHERE r.doc_id = d.doc_id AND r.profile = $profile AND r.profile_version = $version
      AND r.backend IS NOT DISTINCT FROM $backend)
ORDER BY d.relpath
