-- When a pass last found capture incomplete (a trigger dropped or altered). Changes made while it
-- was so never reached the changelog: once capture is whole again the table is snapshotted afresh.
ALTER TABLE tributary.checkpoints ADD COLUMN capture_broken_at timestamptz;
