-- Comments of the configured tables, carried to the target tables.
SELECT TABLE_NAME AS table_name, TABLE_COMMENT AS table_comment
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?) AND TABLE_COMMENT <> '';
