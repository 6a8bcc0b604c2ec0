-- Version 7: how well a quote matched its source: 1.0 for exact, normalised and elided
-- matches, the fuzzy matcher's score (at least 0.90) for a fuzzy one, NULL when ungrounded.
ALTER TABLE extractions ADD COLUMN match_score DOUBLE;
COMMENT ON COLUMN extractions.match IS 'exact | normalized | elided | fuzzy | NULL (ungrounded)';
