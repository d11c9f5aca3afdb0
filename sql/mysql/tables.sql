-- Base tables present in the connected database among the given names, with their comments.
SELECT TABLE_NAME AS table_name, TABLE_COMMENT AS table_comment
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) AND TABLE_TYPE = 'BASE TABLE';
