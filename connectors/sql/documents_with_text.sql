-- Relpath, kind, text and page starts of each content in _keys (doc_id) that has a stored text;
-- a content seen under several names gives one of them.
SELECT d.doc_id, any_value(d.relpath) AS relpath, any_value(d.kind) AS kind,
       any_value(t.text) AS text, any_value(t.page_starts) AS page_starts
FROM documents d JOIN _keys USING (doc_id) JOIN document_texts t USING (doc_id)
GROUP BY d.doc_id
