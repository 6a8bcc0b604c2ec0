-- Version 2: the review ledger, the work queue and the extractions.

-- Every HTTP attempt is a row. A request's key is the hash of everything that determines its
-- answer; a key with an 'ok' row is never sent again, and its stored response is reused.
CREATE TABLE requests (
    request_key        VARCHAR NOT NULL,
    attempt            INTEGER NOT NULL,
    run_id             VARCHAR NOT NULL,
    work_item_id       VARCHAR NOT NULL,
    pass_index         INTEGER NOT NULL,
    doc_ids            VARCHAR[] NOT NULL,
    fields             VARCHAR[],
    model              VARCHAR NOT NULL,
    reasoning_effort   VARCHAR,
    thinking           BOOLEAN,
    route_reason       VARCHAR,
    escalated_from     VARCHAR,               -- the request key this one escalates
    started_at         TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ,
    status             VARCHAR NOT NULL,      -- ok | retried | failed
    http_status        INTEGER,
    error              VARCHAR,
    finish_reason      VARCHAR,
    prompt_tokens      BIGINT,
    cache_hit_tokens   BIGINT,
    cache_miss_tokens  BIGINT,
    completion_tokens  BIGINT,
    reasoning_tokens   BIGINT,
    predicted_cache_hit_tokens BIGINT,
    cost_usd           DOUBLE,
    started_off_peak   BOOLEAN,
    finished_off_peak  BOOLEAN,
    off_peak           BOOLEAN,
    response           VARCHAR                -- the answer's content, for 'ok' attempts
);

-- What a review run planned; the next run takes what is still pending first.
CREATE TABLE work_items (
    work_item_id     VARCHAR NOT NULL,
    run_id           VARCHAR NOT NULL,
    profile          VARCHAR NOT NULL,
    profile_version  VARCHAR NOT NULL,
    grp              VARCHAR,
    doc_ids          VARCHAR[] NOT NULL,
    spec             JSON NOT NULL,           -- the slices, so the item can be rebuilt as planned
    input_tokens     BIGINT,
    status           VARCHAR NOT NULL,        -- done | failed | pending
    status_reason    VARCHAR,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE extractions (
    run_id           VARCHAR NOT NULL,
    doc_id           VARCHAR NOT NULL,
    request_key      VARCHAR NOT NULL,
    work_item_id     VARCHAR NOT NULL,
    profile          VARCHAR NOT NULL,
    profile_version  VARCHAR NOT NULL,
    field            VARCHAR NOT NULL,
    value            JSON,
    quote            VARCHAR,
    char_start       INTEGER,
    char_end         INTEGER,
    page             INTEGER,
    file             VARCHAR,
    line             INTEGER,
    grounded         BOOLEAN NOT NULL,
    match            VARCHAR,                 -- exact | normalized | NULL
    "window"         VARCHAR,
    model            VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

-- A document is reviewed for a profile version once every work item covering it is done.
CREATE TABLE document_reviews (
    doc_id           VARCHAR NOT NULL,
    profile          VARCHAR NOT NULL,
    profile_version  VARCHAR NOT NULL,
    run_id           VARCHAR NOT NULL,
    reviewed_at      TIMESTAMPTZ NOT NULL
);

-- The latest state of each work item.
CREATE VIEW current_work_items AS
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY work_item_id, profile_version ORDER BY updated_at DESC) AS rn
    FROM work_items
) WHERE rn = 1;

-- The latest grounded extraction per document and field (Pro over Flash when both answered).
CREATE VIEW latest_extractions AS
SELECT * EXCLUDE (rn) FROM (
    SELECT e.*, d.relpath, d.uri, row_number() OVER (
        PARTITION BY e.doc_id, e.profile, e.field, coalesce(e.char_start, -1)
        ORDER BY e.created_at DESC, e.model DESC) AS rn
    FROM extractions e
    LEFT JOIN (SELECT DISTINCT ON (doc_id) doc_id, relpath, uri FROM current_documents) d
        USING (doc_id)
    WHERE e.grounded
) WHERE rn = 1;

CREATE VIEW cost_by_run_model AS
SELECT run_id, model,
       count(DISTINCT request_key) FILTER (WHERE status = 'ok') AS requests,
       count(*) AS attempts,
       sum(prompt_tokens) AS prompt_tokens,
       sum(cache_hit_tokens) AS cache_hit_tokens,
       sum(cache_miss_tokens) AS cache_miss_tokens,
       sum(completion_tokens) AS completion_tokens,
       sum(reasoning_tokens) AS reasoning_tokens,
       round(sum(cost_usd), 6) AS cost_usd,
       bool_and(off_peak) FILTER (WHERE status = 'ok') AS all_off_peak
FROM requests GROUP BY run_id, model;

CREATE VIEW failures AS
SELECT 'document' AS what, uri AS subject, status, status_reason AS reason, last_seen AS at
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
