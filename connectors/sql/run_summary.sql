-- The numbers of one review run, for its summary and its Prefect artifact.
SELECT
    (SELECT count(DISTINCT doc_id) FROM (SELECT unnest(doc_ids) AS doc_id FROM work_items
        WHERE run_id = $run_id)) AS documents,
    (SELECT count(DISTINCT work_item_id) FROM work_items WHERE run_id = $run_id) AS work_items,
    (SELECT count(DISTINCT work_item_id) FROM work_items
        WHERE run_id = $run_id AND status = 'pending') AS pending_items,
    (SELECT count(DISTINCT work_item_id) FROM work_items
        WHERE run_id = $run_id AND status = 'failed') AS failed_items,
    (SELECT count(DISTINCT request_key) FROM requests WHERE run_id = $run_id) AS requests,
    (SELECT count(*) FROM requests WHERE run_id = $run_id) AS attempts,
    (SELECT count(*) FROM requests WHERE run_id = $run_id AND status <> 'ok') AS failed_attempts,
    (SELECT coalesce(sum(prompt_tokens), 0) FROM requests WHERE run_id = $run_id) AS prompt_tokens,
    (SELECT coalesce(sum(cache_hit_tokens), 0) FROM requests WHERE run_id = $run_id)
        AS cache_hit_tokens,
    (SELECT coalesce(sum(completion_tokens), 0) FROM requests WHERE run_id = $run_id)
        AS completion_tokens,
    (SELECT coalesce(sum(cost_usd), 0) FROM requests WHERE run_id = $run_id) AS cost_usd,
    (SELECT count(DISTINCT request_key) FROM requests
        WHERE run_id = $run_id AND escalated_from IS NOT NULL) AS escalations,
    (SELECT count(*) FROM extractions WHERE run_id = $run_id) AS extractions,
    (SELECT count(*) FROM extractions WHERE run_id = $run_id AND grounded) AS grounded,
    (SELECT planned_cost_usd FROM runs WHERE run_id = $run_id) AS planned_cost_usd,
    (SELECT planned_prompt_tokens FROM runs WHERE run_id = $run_id) AS planned_prompt_tokens,
    (SELECT planned_cache_hit_tokens FROM runs WHERE run_id = $run_id)
        AS planned_cache_hit_tokens
