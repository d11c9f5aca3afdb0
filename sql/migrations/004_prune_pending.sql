-- Set with every applied batch, cleared once its changelog rows are pruned in the source: only a
-- process that died in between leaves it set, and only then does the next pass look for leftovers.
ALTER TABLE tributary.checkpoints ADD COLUMN prune_pending boolean NOT NULL DEFAULT true;
