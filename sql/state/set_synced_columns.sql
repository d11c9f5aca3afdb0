UPDATE tributary.checkpoints SET synced_columns = $3::jsonb WHERE source_id = $1 AND source_table = $2;
