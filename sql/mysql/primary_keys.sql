-- Primary-key columns of the configured tables, in key order.
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, SEQ_IN_INDEX AS seq
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) AND INDEX_NAME = 'PRIMARY'
ORDER BY TABLE_NAME, SEQ_IN_INDEX;
