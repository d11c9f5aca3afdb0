UPDATE tributary.checkpoints
SET snapshot_after = $3::jsonb, snapshot_rows = snapshot_rows + $4
WHERE source_id = $1 AND source_table = $2;
