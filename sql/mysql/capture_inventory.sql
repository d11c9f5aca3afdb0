-- Everything capture may have left in the connected database, for `triggers status` and
-- `triggers uninstall --table`: tables whose comment starts like Tributary's changelog marker (the
-- marker itself is checked in code, as is the legacy comment of versions before it), and every
-- trigger with its body (ours are the ones writing into one of those changelogs).
SELECT 'table' AS kind, TABLE_NAME AS name, TABLE_COMMENT AS a, NULL AS b, NULL AS c, NULL AS d
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'
  AND (TABLE_COMMENT LIKE 'tributary:changelog:%' OR TABLE_COMMENT LIKE 'tributary changelog token %')
UNION ALL
SELECT 'trigger', TRIGGER_NAME, EVENT_MANIPULATION, ACTION_TIMING, EVENT_OBJECT_TABLE, ACTION_STATEMENT
FROM information_schema.TRIGGERS
-- EVENT_OBJECT_SCHEMA, not TRIGGER_SCHEMA (always equal): MariaDB then opens only this database.
WHERE EVENT_OBJECT_SCHEMA = DATABASE();
