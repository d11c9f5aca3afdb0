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
SELECT 'trigger' AS kind, TRIGGER_NAME AS name, EVENT_MANIPULATION AS a, ACTION_TIMING AS b,
       EVENT_OBJECT_TABLE AS c, ACTION_STATEMENT AS d
FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND (TRIGGER_NAME LIKE 'tributary\_%' OR TRIGGER_NAME IN (?) OR TRIGGER_NAME LIKE 'pt\_osc\_%')
UNION ALL
SELECT 'table', TABLE_NAME, TABLE_COMMENT, NULL, NULL, NULL
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) AND TABLE_TYPE = 'BASE TABLE'
UNION ALL
SELECT 'shape', TABLE_NAME,
       MD5(GROUP_CONCAT(CONCAT_WS(' ', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLLATION_NAME, ''), COLUMN_COMMENT)
                        ORDER BY ORDINAL_POSITION SEPARATOR '\n')),
       NULL, NULL, NULL
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)
GROUP BY TABLE_NAME
UNION ALL
SELECT 'indexes', TABLE_NAME,
       MD5(GROUP_CONCAT(CONCAT_WS(' ', INDEX_NAME, SEQ_IN_INDEX, IFNULL(COLUMN_NAME, '-'), IFNULL(SUB_PART, '-'), NON_UNIQUE, INDEX_TYPE)
                        ORDER BY INDEX_NAME, SEQ_IN_INDEX SEPARATOR '\n')),
       NULL, NULL, NULL
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)
GROUP BY TABLE_NAME;
