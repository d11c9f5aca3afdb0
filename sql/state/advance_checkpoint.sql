UPDATE tributary.checkpoints
SET high_water = $3, applied_changes = applied_changes + $4, last_applied_at = now(), prune_pending = true
WHERE source_id = $1 AND source_table = $2;
