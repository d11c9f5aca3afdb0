SELECT source_id, source_table, target_table, changelog_token, high_water::text AS high_water,
       snapshot_state, snapshot_mode, snapshot_after, snapshot_rows::text AS snapshot_rows, synced_columns, prune_pending
FROM tributary.checkpoints
WHERE source_id = $1 AND source_table = $2;
