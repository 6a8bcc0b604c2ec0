-- The grounded findings of the files a run saw, each from the latest review of its content with
-- the profile; files whose current content was never reviewed come with reviewed = false.
WITH files AS (
    SELECT doc_id, relpath FROM current_documents
    WHERE source = $source AND last_run_id = $run_id AND status = 'ok' AND doc_id IS NOT NULL
),
reviewed AS (
    SELECT doc_id, arg_max(run_id, created_at) AS run_id
    FROM field_states WHERE profile = $profile GROUP BY doc_id
)
SELECT f.relpath, f.doc_id, r.run_id IS NOT NULL AS reviewed, e.field, e.line, e.char_start,
       e.quote, e.value
FROM files f
LEFT JOIN reviewed r USING (doc_id)
LEFT JOIN extractions e
       ON e.doc_id = f.doc_id AND e.run_id = r.run_id AND e.profile = $profile AND e.grounded
ORDER BY f.relpath, e.line, e.field;
