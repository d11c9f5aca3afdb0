UPDATE tributary.gaps SET holders = $4::text[]
WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[]);
