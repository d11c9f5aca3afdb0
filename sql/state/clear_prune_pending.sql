UPDATE tributary.checkpoints SET prune_pending = false WHERE source_id = $1 AND source_table = $2 AND high_water = $3;
