-- The changelog was recreated or emptied: nothing below its new ids is known, so start over with a
-- fresh snapshot. Gaps go with it (ON DELETE CASCADE would need a delete; do it explicitly).
UPDATE tributary.checkpoints
SET changelog_token = $3, high_water = 0, snapshot_state = 'pending', snapshot_mode = 'replace', snapshot_after = NULL,
    snapshot_rows = 0, snapshot_started_at = NULL, snapshot_done_at = NULL
WHERE source_id = $1 AND source_table = $2;
