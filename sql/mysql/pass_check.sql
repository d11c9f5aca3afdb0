-- Once per source per pass, in one round trip: the triggers under Tributary's names (tributary_*, and
-- the names derived from configured changelog names) and pt-online-schema-change's (pt_osc_*, whose
-- presence tells its trigger move from drift), which configured tables and changelogs exist
-- (with the table's comment; a changelog's carries Tributary's marker and install token), a digest of
-- each table's and changelog's columns (comments included), and a digest of each configured table's
-- indexes (an ALTER TABLE, CREATE INDEX or DROP INDEX changes one of them). Together they cover all
-- that introspection reads (src/mysql/introspect.ts), so an unchanged digest lets a start reuse the
-- shapes stored with it. Indexes are read for the configured tables only: STATISTICS opens each
-- table in full (COLUMNS reads only its definition), and a changelog's indexes matter to nothing.
-- Every part filters on the schema column MariaDB uses to open only this database's files
-- (EXPLAIN: "Scanned 1 database"): for TRIGGERS that is EVENT_OBJECT_SCHEMA, which always equals
-- TRIGGER_SCHEMA since a trigger lives in its table's schema. Filtering on TRIGGER_SCHEMA makes
-- MariaDB read the triggers of every database on the server, so the check grew with other shards.
-- The database is a parameter, not DATABASE(): the check runs on any connection to the server,
-- without a `USE` per source. The first part says that the database exists and the user may see it:
-- information_schema shows nothing, rather than an error, for a database that is gone or not granted,
-- so without that row the check is asked again in the database itself, for the server's error.
SELECT 'schema' AS kind, SCHEMA_NAME AS name, NULL AS a, NULL AS b, NULL AS c, NULL AS d
FROM information_schema.SCHEMATA
WHERE SCHEMA_NAME = ?
UNION ALL
SELECT 'trigger', TRIGGER_NAME, EVENT_MANIPULATION, ACTION_TIMING, EVENT_OBJECT_TABLE, ACTION_STATEMENT
FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = ? AND (TRIGGER_NAME LIKE 'tributary\_%' OR TRIGGER_NAME IN (?) OR TRIGGER_NAME LIKE 'pt\_osc\_%')
UNION ALL
SELECT 'table', TABLE_NAME, TABLE_COMMENT, NULL, NULL, NULL
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?) AND TABLE_TYPE = 'BASE TABLE'
UNION ALL
SELECT 'shape', TABLE_NAME,
       MD5(GROUP_CONCAT(CONCAT_WS(' ', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLLATION_NAME, ''), COLUMN_COMMENT)
                        ORDER BY ORDINAL_POSITION SEPARATOR '\n')),
       NULL, NULL, NULL
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?)
GROUP BY TABLE_NAME
UNION ALL
SELECT 'indexes', TABLE_NAME,
       MD5(GROUP_CONCAT(CONCAT_WS(' ', INDEX_NAME, SEQ_IN_INDEX, IFNULL(COLUMN_NAME, '-'), IFNULL(SUB_PART, '-'), NON_UNIQUE, INDEX_TYPE)
                        ORDER BY INDEX_NAME, SEQ_IN_INDEX SEPARATOR '\n')),
       NULL, NULL, NULL
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?)
GROUP BY TABLE_NAME;
