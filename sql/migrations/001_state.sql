-- Tributary's own state. Applied once, in a transaction, by the migration runner.

-- One row per (source, table): how far the changelog has been applied and where the snapshot stands.
CREATE TABLE tributary.checkpoints (
  source_id           text        NOT NULL,
  source_table        text        NOT NULL,
  target_table        text        NOT NULL,
  -- Token from the changelog's table comment; a different token means the changelog was recreated.
  changelog_token     text,
  -- Every change id at or below this is applied or listed in tributary.gaps.
  high_water          bigint      NOT NULL DEFAULT 0,
  snapshot_state      text        NOT NULL DEFAULT 'pending'
                      CHECK (snapshot_state IN ('pending', 'running', 'done')),
  -- Key of the last row copied by a snapshot in progress (JSON array), to resume after a crash.
  snapshot_after      jsonb,
  snapshot_rows       bigint      NOT NULL DEFAULT 0,
  snapshot_started_at timestamptz,
  snapshot_done_at    timestamptz,
  applied_changes     bigint      NOT NULL DEFAULT 0,
  last_applied_at     timestamptz,
  last_pass_at        timestamptz,
  last_error          text,
  last_error_at       timestamptz,
  PRIMARY KEY (source_id, source_table)
);

-- Change ids that were missing when a later id was read: a transaction may still commit them, or
-- they were rolled back. See README "How nothing is lost".
CREATE TABLE tributary.gaps (
  source_id         text        NOT NULL,
  source_table      text        NOT NULL,
  change_id         bigint      NOT NULL,
  -- MySQL's NOW(6) (UTC) at the read that first missed this id.
  first_seen_source timestamp(6) NOT NULL,
  first_seen_at     timestamptz NOT NULL DEFAULT now(),
  -- InnoDB transactions alive when the gap was first examined; the id can only still appear if one
  -- of them commits it. NULL until examined.
  holders           text[],
  expired_at        timestamptz,
  PRIMARY KEY (source_id, source_table, change_id),
  FOREIGN KEY (source_id, source_table) REFERENCES tributary.checkpoints ON DELETE CASCADE
);
