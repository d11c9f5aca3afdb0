-- SRIDs spatial columns declare (the SRID column attribute); NULL means none. MySQL 8 only (MariaDB's
-- view is GEOMETRY_COLUMNS). Sent only when a configured table has a spatial column.
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, SRS_ID AS srid
FROM information_schema.ST_GEOMETRY_COLUMNS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?);
