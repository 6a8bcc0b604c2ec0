-- The clause matrix of a profile: every family, or those with a document planned by $run_id.
SELECT * FROM clause_matrix
WHERE profile = $profile
  AND ($run_id IS NULL OR (source, family_id) IN (
      SELECT f.source, f.family_id FROM current_document_families f
      JOIN (SELECT DISTINCT unnest(doc_ids) AS doc_id FROM work_items WHERE run_id = $run_id)
          USING (doc_id)))
ORDER BY family_id, source, field
