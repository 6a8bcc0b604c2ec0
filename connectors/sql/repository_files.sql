-- The current files of a source, each with what a later night needs to show it: since when its
-- content is unchanged, and the content last reviewed with the profile by the backend (the
-- diff of a changed file is taken against that content's stored text).
WITH present AS (
    SELECT DISTINCT ON (uri) uri, doc_id, relpath, kind, lines FROM current_documents
    WHERE source = $source AND status = 'ok' AND doc_id IS NOT NULL
    ORDER BY uri
),
since AS (
    SELECT uri, doc_id, min(first_seen) AS content_since FROM documents
    WHERE source = $source AND doc_id IS NOT NULL GROUP BY uri, doc_id
),
reviewed AS (
    SELECT d.uri, arg_max(d.doc_id, r.reviewed_at) AS reviewed_doc_id
    FROM (SELECT DISTINCT uri, doc_id FROM documents WHERE source = $source) d
    JOIN document_reviews r USING (doc_id)
    WHERE r.profile = $profile AND r.backend IS NOT DISTINCT FROM $backend
    GROUP BY d.uri
)
SELECT p.doc_id, p.relpath, p.kind, p.lines, t.tokens, s.content_since, v.reviewed_doc_id
FROM present p
JOIN (SELECT DISTINCT ON (doc_id) doc_id, tokens FROM document_texts) t USING (doc_id)
LEFT JOIN since s USING (uri, doc_id)
LEFT JOIN reviewed v USING (uri)
ORDER BY p.relpath
