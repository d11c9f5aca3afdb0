INSERT INTO tributary.checkpoints (source_id, source_table, target_table)
VALUES ($1, $2, $3)
ON CONFLICT (source_id, source_table) DO NOTHING;
