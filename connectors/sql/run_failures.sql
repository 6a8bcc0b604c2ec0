-- What went wrong in one review run, with the reason: files it could not read, requests that
-- never got an answer, work items left failed or pending, quotes not found in their source.
SELECT 'document' AS what, relpath AS subject, status, status_reason AS reason
FROM current_documents WHERE last_run_id = $run_id AND status <> 'ok'
UNION ALL
SELECT 'request', r.model || ' ' || left(r.request_key, 12), r.status,
       coalesce(r.error, 'no answer')
FROM requests r WHERE r.run_id = $run_id AND r.status = 'failed'
  AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.request_key = r.request_key AND o.status = 'ok')
UNION ALL
SELECT 'work item', work_item_id, status, status_reason
FROM current_work_items WHERE run_id = $run_id AND status <> 'done'
UNION ALL
SELECT 'extraction', coalesce(d.relpath, e.doc_id) || ': ' || e.field, 'ungrounded',
       'quote not found in the source: ' || coalesce(left(e.quote, 120), '(none)')
FROM extractions e
LEFT JOIN (SELECT DISTINCT ON (doc_id) doc_id, relpath FROM current_documents) d USING (doc_id)
WHERE e.run_id = $run_id AND NOT e.grounded
ORDER BY what, subject
