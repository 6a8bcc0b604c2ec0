-- Version 3: which backend answered. An answer or a review from the simulator or from a
-- self-hosted endpoint is never taken for DeepSeek's (nor the other way round).
ALTER TABLE requests ADD COLUMN backend VARCHAR;
ALTER TABLE extractions ADD COLUMN backend VARCHAR;
ALTER TABLE document_reviews ADD COLUMN backend VARCHAR;

-- Two profiles may plan the same documents into the same item: keep their states apart.
CREATE OR REPLACE VIEW current_work_items AS
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY work_item_id, profile, profile_version ORDER BY updated_at DESC) AS rn
    FROM work_items
) WHERE rn = 1;

-- The latest grounded extraction per document and field, from the latest profile version that
-- reviewed the document (Pro over Flash when both answered; window overlaps counted once).
CREATE OR REPLACE VIEW latest_extractions AS
SELECT * EXCLUDE (rn) FROM (
    SELECT e.*, d.relpath, d.uri, row_number() OVER (
        PARTITION BY e.doc_id, e.profile, e.field, coalesce(e.char_start, -1)
        ORDER BY e.created_at DESC, e.model DESC) AS rn
    FROM extractions e
    JOIN (SELECT doc_id, profile, arg_max(profile_version, created_at) AS profile_version
          FROM extractions GROUP BY ALL) latest USING (doc_id, profile, profile_version)
    LEFT JOIN (SELECT DISTINCT ON (doc_id) doc_id, relpath, uri FROM current_documents) d
        USING (doc_id)
    WHERE e.grounded
) WHERE rn = 1;
