-- Version 4: the failures view's time column is `happened_at` (`at` is a keyword in DuckDB's
-- SQL and had to be quoted in every query).
CREATE OR REPLACE VIEW failures AS
SELECT 'document' AS what, uri AS subject, status, status_reason AS reason,
       last_seen AS happened_at
FROM current_documents WHERE status <> 'ok'
UNION ALL
SELECT 'request', request_key, status, error, finished_at
FROM requests r WHERE status = 'failed'
  AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.request_key = r.request_key AND o.status = 'ok')
UNION ALL
SELECT 'work_item', work_item_id, status, status_reason, updated_at
FROM current_work_items WHERE status <> 'done'
UNION ALL
SELECT 'extraction', doc_id || ':' || field, 'ungrounded', quote, created_at
FROM extractions WHERE NOT grounded;
