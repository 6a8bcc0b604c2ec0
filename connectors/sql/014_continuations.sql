-- Version 14: an answer cut at max_tokens is continued by a request of its own (chat-prefix
-- completion), which names the request it continues; and a run keeps what its plan predicted,
-- so that its summary shows planned against settled cost.
ALTER TABLE requests ADD COLUMN continues VARCHAR;
ALTER TABLE runs ADD COLUMN planned_cost_usd DOUBLE;
ALTER TABLE runs ADD COLUMN planned_cache_hit_tokens BIGINT;
ALTER TABLE runs ADD COLUMN planned_prompt_tokens BIGINT;
ALTER TABLE runs ADD COLUMN planned_output_tokens BIGINT;
COMMENT ON COLUMN requests.continues IS 'request_key of the cut answer this request continues';
