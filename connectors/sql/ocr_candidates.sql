-- PDF contents parsed without OCR (no document_pages rows) that OCR could add text to: those
-- with no text at all, those with a page of fewer than $min_chars non-space characters, or
-- (with $always) every one.
WITH parsed AS (
    SELECT DISTINCT ON (doc_id) doc_id, status FROM documents
    WHERE kind = 'pdf' AND doc_id IS NOT NULL AND status IN ('ok', 'empty_text')
      AND doc_id NOT IN (SELECT doc_id FROM document_pages)
    ORDER BY doc_id, last_seen DESC
), starts AS (
    SELECT t.doc_id, t.text, unnest(t.page_starts) AS start,
           unnest(generate_series(1, len(t.page_starts))) AS page
    FROM document_texts t JOIN parsed p USING (doc_id)
    WHERE p.status = 'ok'
), pages AS (
    SELECT doc_id, text, start,
           coalesce(lead(start) OVER (PARTITION BY doc_id ORDER BY page) - 1, length(text)) AS stop
    FROM starts
)
SELECT doc_id FROM parsed WHERE $always OR status = 'empty_text'
UNION
SELECT doc_id FROM pages
WHERE length(regexp_replace(substring(text, start + 1, stop - start), '\s', '', 'g')) < $min_chars
