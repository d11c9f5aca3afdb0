-- Creates the unit's checkpoint on first use and reads it. A row created by this statement is not
-- visible to its own SELECT; the caller reads again then (once per unit, ever).
WITH created AS (
  INSERT INTO tributary.checkpoints (source_id, source_table, target_table)
  VALUES ($1, $2, $3)
  ON CONFLICT (source_id, source_table) DO NOTHING
)
SELECT source_id, source_table, target_table, changelog_token, high_water::text AS high_water,
       snapshot_state, snapshot_mode, snapshot_after, snapshot_rows::text AS snapshot_rows, synced_columns, prune_pending, snapshot_plan, synced_settings,
       to_char(capture_broken_at, 'YYYY-MM-DD"T"HH24:MI:SSOF') AS capture_broken_at,
       to_char(schema_change_seen_at, 'YYYY-MM-DD"T"HH24:MI:SSOF') AS schema_change_seen_at
FROM tributary.checkpoints
WHERE source_id = $1 AND source_table = $2;
