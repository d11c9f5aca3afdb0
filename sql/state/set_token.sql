UPDATE tributary.checkpoints SET changelog_token = $3 WHERE source_id = $1 AND source_table = $2;
