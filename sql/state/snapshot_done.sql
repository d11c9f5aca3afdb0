UPDATE tributary.checkpoints
SET snapshot_state = 'done', snapshot_mode = 'replace', snapshot_after = NULL, snapshot_done_at = now()
WHERE source_id = $1 AND source_table = $2;
