-- Values PostgreSQL cannot hold (zero dates, NUL characters, ...). A row is either kept out
-- (action 'rejected': the target keeps its last good version, if any) or stored with the value set to
-- NULL (action 'nulled'), per the table's onBadValue setting. A later good version of the row removes
-- its entries here.
CREATE TABLE tributary.rejects (
  source_id    text        NOT NULL,
  source_table text        NOT NULL,
  target_table text        NOT NULL,
  -- The row's key as Tributary identifies it (JSON array of values) and readably ("id=5").
  row_key      text        NOT NULL,
  key_text     text        NOT NULL,
  column_name  text        NOT NULL,
  -- The value exactly as read: bytes (UTF-8 for text), since text cannot hold every such value.
  raw_value    bytea,
  reason       text        NOT NULL,
  action       text        NOT NULL CHECK (action IN ('rejected', 'nulled')),
  rejected_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, source_table, row_key, column_name)
);
