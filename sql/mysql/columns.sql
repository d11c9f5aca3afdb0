-- Columns of the configured tables in the connected database, in table order.
SELECT TABLE_NAME AS table_name,
       COLUMN_NAME AS column_name,
       ORDINAL_POSITION AS ordinal,
       LOWER(DATA_TYPE) AS data_type,
       LOWER(COLUMN_TYPE) AS column_type,
       IS_NULLABLE AS is_nullable,
       CHARACTER_SET_NAME AS charset,
       COLLATION_NAME AS collation_name,
       CHARACTER_MAXIMUM_LENGTH AS char_max_length,
       NUMERIC_PRECISION AS numeric_precision,
       NUMERIC_SCALE AS numeric_scale,
       DATETIME_PRECISION AS datetime_precision,
       COLUMN_COMMENT AS column_comment
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)
ORDER BY TABLE_NAME, ORDINAL_POSITION;
