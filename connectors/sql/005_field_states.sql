-- Version 5: completeness. Every asked field of every document shown in a request ends in one
-- state: answered (an extraction), absent (the model declared the document has none) or
-- missing (neither: skipped, truncated, unreadable answer).
CREATE TABLE field_states (
    run_id           VARCHAR NOT NULL,
    doc_id           VARCHAR NOT NULL,
    profile          VARCHAR NOT NULL,
    profile_version  VARCHAR NOT NULL,
    field            VARCHAR NOT NULL,
    state            VARCHAR NOT NULL,        -- answered | absent | missing
    request_key      VARCHAR NOT NULL,
    "window"         VARCHAR,
    backend          VARCHAR,
    created_at       TIMESTAMPTZ NOT NULL
);

-- One state per document, profile and field, from the latest profile version that reviewed the
-- document: answered if any request answered it (any window, any escalation), else missing if
-- any request left it unanswered without declaring it absent, else absent. A document with no
-- row here for a profile was not reviewed with it.
CREATE VIEW latest_field_states AS
SELECT doc_id, profile, profile_version, field,
       CASE WHEN bool_or(state = 'answered') THEN 'answered'
            WHEN bool_or(state = 'missing') THEN 'missing'
            ELSE 'absent' END AS state,
       max(created_at) AS decided_at
FROM field_states
JOIN (SELECT doc_id, profile, arg_max(profile_version, created_at) AS profile_version
      FROM field_states GROUP BY ALL) latest USING (doc_id, profile, profile_version)
GROUP BY ALL;
