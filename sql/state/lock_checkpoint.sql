-- Taken at the start of every batch transaction: the batch commits only if nobody moved the
-- watermark since it was read.
SELECT high_water::text AS high_water FROM tributary.checkpoints
WHERE source_id = $1 AND source_table = $2
FOR UPDATE;
