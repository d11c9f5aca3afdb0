UPDATE tributary.checkpoints
SET snapshot_state = 'pending', snapshot_mode = 'refresh', snapshot_after = NULL
WHERE source_id = $1 AND source_table = $2;
