-- Gaps become ranges of consecutive change ids: change_id is the first id of the range, last_id the
-- last. Ids skipped over by one read are one row however many they are, so a changelog with ids in
-- the millions never turns into millions of gap rows.
ALTER TABLE tributary.gaps ADD COLUMN last_id bigint;
UPDATE tributary.gaps SET last_id = change_id;
ALTER TABLE tributary.gaps ALTER COLUMN last_id SET NOT NULL;
ALTER TABLE tributary.gaps ADD CONSTRAINT gaps_range_check CHECK (last_id >= change_id);
