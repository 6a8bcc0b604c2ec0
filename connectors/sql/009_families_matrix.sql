-- Version 9: typed values, contract families as amended, and the clause matrix.

-- Each extraction's value read as its field's type (tasks/typed_values.py), so that "a notice
-- period under 60 days" is WHERE value_days < 60. A value that could not be read keeps its
-- row, flagged: value_status 'invalid' and value_reason.
ALTER TABLE extractions ADD COLUMN value_type VARCHAR;      -- date | duration | money | party_list | yes_no | jurisdiction | text
ALTER TABLE extractions ADD COLUMN value_status VARCHAR;    -- ok | invalid
ALTER TABLE extractions ADD COLUMN value_reason VARCHAR;
ALTER TABLE extractions ADD COLUMN value_text VARCHAR;      -- the normalised value as shown
ALTER TABLE extractions ADD COLUMN value_date DATE;
ALTER TABLE extractions ADD COLUMN value_days INTEGER;      -- durations (a month is 365/12 days)
ALTER TABLE extractions ADD COLUMN value_amount DOUBLE;
ALTER TABLE extractions ADD COLUMN value_currency VARCHAR;  -- ISO 4217
ALTER TABLE extractions ADD COLUMN value_bool BOOLEAN;
ALTER TABLE extractions ADD COLUMN value_list VARCHAR[];    -- party lists

-- A document's family: a master with its amendments and attachments (tasks/families.py).
CREATE TABLE document_families (
    doc_id      VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    relpath     VARCHAR NOT NULL,
    family_id   VARCHAR NOT NULL,
    role        VARCHAR NOT NULL,     -- master | amendment | attachment
    ordinal     INTEGER,              -- the amendment's or attachment's number
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE VIEW current_document_families AS
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY source, relpath ORDER BY created_at DESC) AS rn
    FROM document_families
) WHERE rn = 1;

-- One row per reviewed document, profile and field: the state in the words of the matrix
-- (found, absent, failed; a field with no row was not reviewed) and, when found, the first
-- grounded extraction of the latest profile version in document order, typed.
CREATE VIEW document_field_values AS
WITH first_extraction AS (
    SELECT DISTINCT ON (doc_id, profile, profile_version, field) *
    FROM latest_extractions
    ORDER BY doc_id, profile, profile_version, field, char_start NULLS LAST, created_at DESC
)
SELECT s.doc_id, s.profile, s.profile_version, s.field,
       CASE WHEN e.doc_id IS NOT NULL THEN 'found'
            WHEN s.state = 'absent' THEN 'absent'
            ELSE 'failed' END AS state,
       CASE WHEN e.doc_id IS NULL AND s.state = 'answered' THEN 'no grounded quote'
            WHEN s.state = 'missing' THEN 'not answered' END AS state_reason,
       e.value, e.value_type, e.value_status, e.value_reason, e.value_text, e.value_date,
       e.value_days, e.value_amount, e.value_currency, e.value_bool, e.value_list,
       e.quote, e.page, e.char_start, e.char_end, e.run_id, s.decided_at
FROM latest_field_states s
LEFT JOIN first_extraction e USING (doc_id, profile, profile_version, field);

-- The clause matrix, long: one row per family, profile and field (a contract alone is a family
-- of one), for every family with a document the profile planned. The value in force is that of
-- the member with the highest precedence that addresses the field: the latest amendment, else
-- the master, else an attachment. `chain` lists every member that addressed it, master first
-- and the member in force last, each with its value, quote and page.
-- state: found | absent | failed | not reviewed (some member not reviewed, none found).
CREATE VIEW clause_matrix AS
WITH planned AS (
    SELECT DISTINCT profile, unnest(doc_ids) AS doc_id FROM work_items
),
failed_docs AS (
    SELECT DISTINCT profile, unnest(doc_ids) AS doc_id FROM current_work_items
    WHERE status = 'failed'
),
families AS (
    SELECT f.source, f.family_id, f.doc_id, f.relpath, f.role, f.ordinal,
           row_number() OVER (
               PARTITION BY f.source, f.family_id
               ORDER BY CASE f.role WHEN 'attachment' THEN 0 WHEN 'master' THEN 1 ELSE 2 END,
                        coalesce(f.ordinal, 0), f.relpath) AS precedence
    FROM current_document_families f
),
profile_families AS (
    SELECT DISTINCT p.profile, f.source, f.family_id
    FROM families f JOIN planned p USING (doc_id)
),
profile_fields AS (
    SELECT DISTINCT profile, field FROM field_states
),
cells AS (
    SELECT pf.profile, pf.source, pf.family_id, m.doc_id, m.relpath, m.role, m.precedence,
           fl.field,
           coalesce(v.state, CASE WHEN fd.doc_id IS NOT NULL THEN 'failed'
                                  ELSE 'not reviewed' END) AS state,
           v.state_reason, v.value, v.value_type, v.value_status, v.value_reason, v.value_text,
           v.value_date, v.value_days, v.value_amount, v.value_currency, v.value_bool,
           v.value_list, v.quote, v.page, v.run_id
    FROM profile_families pf
    JOIN families m USING (source, family_id)
    JOIN profile_fields fl ON fl.profile = pf.profile
    LEFT JOIN document_field_values v
        ON v.doc_id = m.doc_id AND v.profile = pf.profile AND v.field = fl.field
    LEFT JOIN failed_docs fd ON fd.doc_id = m.doc_id AND fd.profile = pf.profile
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY profile, source, family_id, field
        ORDER BY state = 'found' DESC, precedence DESC) AS pick
    FROM cells
)
SELECT r.profile, r.source, r.family_id,
       fam.members,
       r.field,
       CASE WHEN fam_state.any_found THEN 'found'
            WHEN fam_state.any_failed THEN 'failed'
            WHEN fam_state.any_unreviewed THEN 'not reviewed'
            ELSE 'absent' END AS state,
       CASE WHEN fam_state.any_found THEN r.doc_id END AS doc_id,
       CASE WHEN fam_state.any_found THEN r.relpath END AS relpath,
       CASE WHEN fam_state.any_found THEN r.role END AS role,
       r.value, r.value_type, r.value_status, r.value_reason, r.value_text, r.value_date,
       r.value_days, r.value_amount, r.value_currency, r.value_bool, r.value_list,
       r.quote, r.page, r.run_id,
       fam_state.chain
FROM ranked r
JOIN (
    SELECT profile, source, family_id, field,
           bool_or(state = 'found') AS any_found,
           bool_or(state = 'failed') AS any_failed,
           bool_or(state = 'not reviewed') AS any_unreviewed,
           list({'doc_id': doc_id, 'relpath': relpath, 'role': role, 'value_text': value_text,
                 'quote': quote, 'page': page} ORDER BY precedence)
               FILTER (WHERE state = 'found') AS chain
    FROM cells GROUP BY ALL
) fam_state USING (profile, source, family_id, field)
JOIN (
    SELECT source, family_id, list(relpath ORDER BY precedence) AS members
    FROM families GROUP BY ALL
) fam USING (source, family_id)
WHERE r.pick = 1;
