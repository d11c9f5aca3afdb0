-- SRIDs spatial columns declare (REF_SYSTEM_ID); 0 means none. MariaDB only: MySQL 8 names this view
-- ST_GEOMETRY_COLUMNS. Sent only when a configured table has a spatial column.
SELECT G_TABLE_NAME AS table_name, G_GEOMETRY_COLUMN AS column_name, SRID AS srid
FROM information_schema.GEOMETRY_COLUMNS
WHERE G_TABLE_SCHEMA = ? AND G_TABLE_NAME IN (?);
