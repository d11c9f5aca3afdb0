-- Open gaps are counted in ids, split in two: held (a writing transaction that may still commit them
-- was alive at the last look) and waiting (not examined yet: evidence is read a second after a gap is
-- first seen, or, without the PROCESS privilege, they wait for the timeout).
SELECT c.source_id, c.source_table, c.target_table, c.high_water::text AS high_water,
       c.snapshot_state, c.snapshot_rows::text AS snapshot_rows, c.applied_changes::text AS applied_changes,
       c.last_applied_at, c.last_pass_at, c.last_error, c.last_error_at,
       g.held_gaps::text AS held_gaps, g.waiting_gaps::text AS waiting_gaps
FROM tributary.checkpoints c
CROSS JOIN LATERAL (
  SELECT coalesce(sum(last_id - change_id + 1) FILTER (WHERE holders IS NOT NULL), 0) AS held_gaps,
         coalesce(sum(last_id - change_id + 1) FILTER (WHERE holders IS NULL), 0) AS waiting_gaps
  FROM tributary.gaps
  WHERE source_id = c.source_id AND source_table = c.source_table AND expired_at IS NULL
) g
ORDER BY c.source_id, c.source_table;
