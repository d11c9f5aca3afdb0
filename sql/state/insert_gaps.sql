INSERT INTO tributary.gaps (source_id, source_table, change_id, first_seen_source)
SELECT $1, $2, id, $4::timestamp
FROM unnest($3::bigint[]) AS id
ON CONFLICT DO NOTHING;
