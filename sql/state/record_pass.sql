-- One statement per pass for all units, so an idle unit costs the target nothing extra.
UPDATE tributary.checkpoints AS c
SET last_pass_at = now(),
    last_error = u.error,
    last_error_at = CASE WHEN u.error IS NULL THEN c.last_error_at ELSE now() END
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(source_id, source_table, error)
WHERE c.source_id = u.source_id AND c.source_table = u.source_table;
