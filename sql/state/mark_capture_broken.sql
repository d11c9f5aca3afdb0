UPDATE tributary.checkpoints SET capture_broken_at = COALESCE(capture_broken_at, now())
WHERE source_id = $1 AND source_table = $2;
