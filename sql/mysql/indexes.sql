-- Every index of the configured tables, column by column in index order: the primary key and unique
-- indexes choose the row key; the rest are copied to the target. A functional part (MySQL 8) has no
-- COLUMN_NAME. TABLE_SCHEMA as a constant (not DATABASE()) lets MariaDB open only this schema's
-- tables. Column nullability comes from columns.sql: joining information_schema.COLUMNS here made
-- this query a hundred times slower on servers with many tables.
SELECT TABLE_NAME AS table_name, INDEX_NAME AS index_name, COLUMN_NAME AS column_name,
       SEQ_IN_INDEX AS seq, SUB_PART AS sub_part, NON_UNIQUE AS non_unique, UPPER(INDEX_TYPE) AS index_type
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?)
ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, NON_UNIQUE, INDEX_NAME, SEQ_IN_INDEX;
