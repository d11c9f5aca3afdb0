-- Every unit's progress in one round trip, to tell idle units apart before locking any of them.
SELECT c.source_id, c.source_table, c.high_water::text AS high_water, c.snapshot_state,
       c.changelog_token, c.synced_columns, c.synced_settings, c.capture_broken_at IS NOT NULL AS capture_broken, c.schema_change_seen_at IS NOT NULL AS schema_change_seen,
       EXISTS (SELECT 1 FROM tributary.gaps g WHERE g.source_id = c.source_id AND g.source_table = c.source_table) AS has_gaps
FROM tributary.checkpoints c;
