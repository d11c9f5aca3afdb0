-- Unique indexes of the configured tables (the primary key among them), column by column in index
-- order, with each column's nullability: a table without a primary key can be keyed by a unique index
-- whose columns are all NOT NULL.
SELECT s.TABLE_NAME AS table_name, s.INDEX_NAME AS index_name, s.COLUMN_NAME AS column_name,
       s.SEQ_IN_INDEX AS seq, c.IS_NULLABLE AS is_nullable, s.SUB_PART AS sub_part
FROM information_schema.STATISTICS s
JOIN information_schema.COLUMNS c
  ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME
WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME IN (?) AND s.NON_UNIQUE = 0
ORDER BY s.TABLE_NAME, s.INDEX_NAME = 'PRIMARY' DESC, s.INDEX_NAME, s.SEQ_IN_INDEX;
