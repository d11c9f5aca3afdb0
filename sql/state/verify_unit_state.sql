-- verify: whether a unit's snapshot has finished (no row: never synced).
SELECT snapshot_state
FROM tributary.checkpoints
WHERE source_id = $1 AND source_table = $2;
