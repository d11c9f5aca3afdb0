SELECT c.source_id, c.source_table, c.target_table, c.high_water::text AS high_water,
       c.snapshot_state, c.snapshot_rows::text AS snapshot_rows, c.applied_changes::text AS applied_changes,
       c.last_applied_at, c.last_pass_at, c.last_error, c.last_error_at,
       (SELECT count(*) FROM tributary.gaps g
         WHERE g.source_id = c.source_id AND g.source_table = c.source_table AND g.expired_at IS NULL)::int AS open_gaps
FROM tributary.checkpoints c
ORDER BY c.source_id, c.source_table;
