-- Columns each unit last synced (JSON array of target column names): a column added in the source
-- since then holds values that reached MySQL without any trigger (ALTER TABLE fills them), so the
-- unit's rows are re-read once (a refresh: upsert of every row, nothing deleted first).
ALTER TABLE tributary.checkpoints ADD COLUMN synced_columns jsonb;
ALTER TABLE tributary.checkpoints ADD COLUMN snapshot_mode text NOT NULL DEFAULT 'replace'
  CHECK (snapshot_mode IN ('replace', 'refresh'));
