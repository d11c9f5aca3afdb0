DELETE FROM tributary.rejects WHERE source_id = $1 AND source_table = $2;
