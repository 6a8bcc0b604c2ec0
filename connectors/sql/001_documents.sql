-- Version 1: runs, documents and their parsed text.
-- Append-only where it can be; no foreign keys (DuckDB checks them over-eagerly on update).

CREATE TABLE runs (
    run_id          VARCHAR NOT NULL,
    flow_run_id     VARCHAR,
    kind            VARCHAR NOT NULL,         -- ingest | review
    profile         VARCHAR,
    profile_version VARCHAR,
    source          VARCHAR,
    backend         VARCHAR,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    status          VARCHAR NOT NULL,         -- running | completed | deferred | failed | planned
    status_reason   VARCHAR,
    window_end      TIMESTAMPTZ,
    budget_usd      DOUBLE,
    totals          JSON
);

-- One row per (file, content): re-ingesting an unchanged file only moves last_seen;
-- a changed file gets a new row under its new doc_id. doc_id is NULL for files never read.
CREATE TABLE documents (
    doc_id          VARCHAR,
    uri             VARCHAR NOT NULL,
    relpath         VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,
    bytes           BIGINT,
    pages           INTEGER,
    lines           INTEGER,
    tokens          BIGINT,
    status          VARCHAR NOT NULL,
    status_reason   VARCHAR,
    parser          VARCHAR,
    etag            VARCHAR,
    modified_at     TIMESTAMPTZ,
    first_seen      TIMESTAMPTZ NOT NULL,
    last_seen       TIMESTAMPTZ NOT NULL,
    last_run_id     VARCHAR
);

-- The parsed text of each distinct content, once, so that review never parses again.
CREATE TABLE document_texts (
    doc_id            VARCHAR NOT NULL,
    text              VARCHAR NOT NULL,
    page_starts       INTEGER[],
    page_token_starts INTEGER[],
    tokens            BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL
);

-- The latest row of every file.
CREATE VIEW current_documents AS
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY uri ORDER BY last_seen DESC, first_seen DESC) AS rn
    FROM documents
) WHERE rn = 1;
