-- Base tables of the connected database, Tributary's own changelogs left out.
SELECT TABLE_NAME AS table_name, TABLE_ROWS AS table_rows
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE 'tributary\_log\_%'
ORDER BY TABLE_NAME;
