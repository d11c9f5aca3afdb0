UPDATE tributary.gaps SET expired_at = now()
WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[]) AND expired_at IS NULL;
