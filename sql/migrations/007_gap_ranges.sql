-- Gaps become ranges of consecutive change ids: change_id is the first id of the range, last_id the
-- last. Ids skipped over by one read are one row however many they are, so a changelog with ids in
-- the millions never turns into millions of gap rows.
ALTER TABLE tributary.gaps ADD COLUMN last_id bigint;
UPDATE tributary.gaps SET last_id = change_id;
ALTER TABLE tributary.gaps ALTER COLUMN last_id SET NOT NULL;
ALTER TABLE tributary.gaps ADD CONSTRAINT gaps_range_check CHECK (last_id >= change_id);

-- When a pass last saw pt-online-schema-change at work on the table (its triggers on it). Its trigger
-- move (DELETE, then UPDATE, then INSERT trigger, one at a time) leaves a moment in which an update
-- that changes a key reaches the changelog with its old key only: once pt-osc is done, the rows of
-- the table are re-read once (a refresh, nothing deleted) and this is cleared.
ALTER TABLE tributary.checkpoints ADD COLUMN schema_change_seen_at timestamptz;
