-- How a snapshot in progress replaces the rows of its source, chosen when it starts and kept so that
-- a resumed snapshot goes on the same way:
--   fill:  the target held no row of the source: rows are only added.
--   range: each chunk replaces its key range in one transaction (keys whose order PostgreSQL
--          compares exactly as MySQL sorts them: integers, decimals, binary strings).
--   sweep: each chunk upserts and records its keys in a table of seen keys; rows of the source
--          whose key was not seen are deleted when the last chunk commits (text keys, whose collation
--          order PostgreSQL cannot reproduce).
-- NULL when no snapshot is running (and for snapshots started by an earlier version: range or sweep
-- is then chosen on resume, which is safe for either).
ALTER TABLE tributary.checkpoints ADD COLUMN snapshot_plan text
  CHECK (snapshot_plan IN ('fill', 'range', 'sweep'));
-- The table settings the unit's target rows were synced with (target, where, columns, rename, key,
-- keyIncludesSource, onBadValue, conflict): an edited setting is noticed and brought into the target.
ALTER TABLE tributary.checkpoints ADD COLUMN synced_settings jsonb;
