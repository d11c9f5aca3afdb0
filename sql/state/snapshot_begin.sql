UPDATE tributary.checkpoints
SET snapshot_state = 'running', snapshot_after = NULL, snapshot_rows = 0, snapshot_started_at = now()
WHERE source_id = $1 AND source_table = $2;
