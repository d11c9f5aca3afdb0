-- How many of a table's sources have finished their snapshot: its indexes are built once all have.
SELECT count(*) FILTER (WHERE snapshot_state = 'done')::int AS done
FROM tributary.checkpoints
WHERE source_table = $1 AND source_id = ANY ($2::text[]);
