-- Version 10: what each review run and each night cost, for people who read results in the
-- morning. A "night" is a Beijing night: DeepSeek's discount hours are Beijing hours, and every
-- window definition so far includes 23:00-07:00 Beijing, so a night runs from noon to noon in
-- Beijing and is named by the date of its evening (a run at 01:30 Beijing on 30 November
-- belongs to the night of 29 November). A run counts on the night it started.

-- One row per review run: what it covered, sent and cost. The comparisons (the same tokens at
-- peak prices, everything on Pro) are priced by the run's summary from the price book and kept
-- in runs.totals; a run that failed or was interrupted has none (NULL), its cost still counts.
CREATE VIEW review_runs AS
WITH billed AS (
    SELECT run_id, count(DISTINCT request_key) AS requests, count(*) AS attempts,
           count(*) FILTER (WHERE status = 'failed') AS failed_attempts,
           coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(cache_hit_tokens), 0) AS cache_hit_tokens,
           coalesce(sum(completion_tokens), 0) AS completion_tokens,
           coalesce(sum(cost_usd), 0) AS cost_usd
    FROM requests GROUP BY run_id
),
covered AS (
    SELECT run_id, count(DISTINCT doc_id) AS documents
    FROM (SELECT run_id, unnest(doc_ids) AS doc_id FROM work_items) GROUP BY run_id
)
SELECT r.run_id, r.flow_run_id, r.started_at, r.finished_at,
       CAST(timezone('Asia/Shanghai', r.started_at) - INTERVAL 12 HOUR AS DATE) AS beijing_night,
       r.source, r.profile, r.profile_version, r.backend,
       r.backend = 'simulator' AS simulated,
       r.status, r.status_reason,
       coalesce(c.documents, 0) AS documents,
       coalesce(CAST(r.totals ->> 'skipped_documents' AS BIGINT), 0) AS skipped_documents,
       coalesce(b.requests, 0) AS requests,
       coalesce(b.attempts, 0) AS attempts,
       coalesce(b.failed_attempts, 0) AS failed_attempts,
       coalesce(b.prompt_tokens, 0) AS prompt_tokens,
       coalesce(b.cache_hit_tokens, 0) AS cache_hit_tokens,
       coalesce(b.completion_tokens, 0) AS completion_tokens,
       coalesce(b.cost_usd, 0) AS cost_usd,
       CAST(r.totals ->> 'planned_usd' AS DOUBLE) AS planned_usd,
       CAST(r.totals ->> 'planned_cache_hit_share' AS DOUBLE) AS planned_cache_hit_share,
       CAST(r.totals ->> 'peak_cost_usd' AS DOUBLE) AS peak_cost_usd,
       CAST(r.totals ->> 'all_pro_cost_usd' AS DOUBLE) AS all_pro_cost_usd
FROM runs r
LEFT JOIN billed b USING (run_id)
LEFT JOIN covered c USING (run_id)
WHERE r.kind = 'review';

-- Per Beijing night, profile and backend (simulated runs apart from real ones): requests,
-- tokens, cache hits, cost, and what the night saved against peak prices and against Pro
-- (over the runs whose summary priced the comparison).
CREATE VIEW cost_per_night AS
SELECT beijing_night, profile, backend, simulated,
       count(*) AS runs,
       sum(documents) AS documents,
       sum(skipped_documents) AS skipped_documents,
       sum(requests) AS requests,
       sum(attempts) AS attempts,
       sum(prompt_tokens) AS prompt_tokens,
       sum(cache_hit_tokens) AS cache_hit_tokens,
       round(sum(cache_hit_tokens) / nullif(sum(prompt_tokens), 0), 4) AS cache_hit_share,
       sum(completion_tokens) AS completion_tokens,
       round(sum(cost_usd), 6) AS cost_usd,
       round(sum(peak_cost_usd - cost_usd), 6) AS savings_vs_peak_usd,
       round(sum(all_pro_cost_usd - cost_usd), 6) AS savings_vs_all_pro_usd
FROM review_runs
GROUP BY ALL;

-- The latest night that has a review run: what a reader means by "last night" in the morning.
CREATE VIEW last_night AS
SELECT * FROM cost_per_night
WHERE beijing_night = (SELECT max(beijing_night) FROM review_runs);
