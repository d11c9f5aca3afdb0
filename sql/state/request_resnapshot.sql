-- A full snapshot (this source's rows replaced); the watermark stays, so changes captured meanwhile
-- are still applied after it.
UPDATE tributary.checkpoints
SET snapshot_state = 'pending', snapshot_mode = 'replace', snapshot_after = NULL, capture_broken_at = NULL
WHERE source_id = $1 AND source_table = $2;
