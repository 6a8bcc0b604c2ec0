-- Version 6: findings tracked night to night. After each review of a source with a findings
-- profile (codebase), every finding of the source's current files is classified against the
-- previous such run by its fingerprint (file, field, normalised code of the line and of its
-- enclosing block; never the line number): new, persisting, fixed (reported before, not now)
-- or suppressed (a fingerprint a team recorded in finding_suppressions).
CREATE TABLE finding_runs (
    run_id           VARCHAR NOT NULL,
    source           VARCHAR NOT NULL,
    profile          VARCHAR NOT NULL,
    previous_run_id  VARCHAR,                 -- the run this one is compared with
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE findings (
    run_id           VARCHAR NOT NULL,
    source           VARCHAR NOT NULL,
    profile          VARCHAR NOT NULL,
    fingerprint      VARCHAR NOT NULL,
    state            VARCHAR NOT NULL,        -- new | persisting | fixed | suppressed
    field            VARCHAR NOT NULL,
    relpath          VARCHAR NOT NULL,
    line             INTEGER,                 -- in the file as of this run (fixed: as last seen)
    quote            VARCHAR,
    doc_id           VARCHAR,
    value            JSON,
    first_seen_run   VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE finding_suppressions (
    fingerprint      VARCHAR NOT NULL,
    reason           VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

-- The findings of the latest tracked run of each source and profile.
CREATE VIEW latest_findings AS
SELECT f.* FROM findings f
JOIN (SELECT source, profile, arg_max(run_id, created_at) AS run_id
      FROM finding_runs GROUP BY ALL) latest USING (source, profile, run_id);

-- What changed from one night to the next: findings that appeared and findings that went.
CREATE VIEW finding_changes AS
SELECT r.created_at AS run_at, f.run_id, f.source, f.profile, f.state, f.field, f.relpath,
       f.line, f.quote, f.fingerprint, f.first_seen_run
FROM findings f JOIN finding_runs r USING (run_id)
WHERE f.state IN ('new', 'fixed');
