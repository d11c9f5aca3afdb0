-- Unique indexes of the configured tables (the primary key among them), column by column in index
-- order. Column nullability comes from columns.sql: joining information_schema.COLUMNS here made
-- this query a hundred times slower on servers with many tables.
SELECT TABLE_NAME AS table_name, INDEX_NAME AS index_name, COLUMN_NAME AS column_name,
       SEQ_IN_INDEX AS seq, SUB_PART AS sub_part
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) AND NON_UNIQUE = 0
ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX;
