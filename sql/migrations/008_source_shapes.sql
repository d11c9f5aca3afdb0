-- Each source's table shapes as introspection last read them (columns, keys, indexes of the
-- configured tables and their changelogs), with a hash of the digest of the capture check that came
-- with that read (sql/mysql/pass_check.sql: columns, indexes and check constraints). A start whose check
-- gives the same digest uses these instead of reading information_schema again; with hundreds of
-- sources on one server those reads were most of the MySQL work of a start. Only a cache: a missing
-- or outdated row costs one introspection, nothing else.
CREATE TABLE tributary.source_shapes (
  source_id text PRIMARY KEY,
  digest text NOT NULL,
  tables jsonb NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now()
);
