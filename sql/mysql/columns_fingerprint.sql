-- One digest per configured table of its column names, types and collations: compared on every pass,
-- so an ALTER TABLE on a source is noticed without re-reading the whole schema.
SELECT TABLE_NAME AS table_name,
       MD5(GROUP_CONCAT(CONCAT_WS(' ', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLLATION_NAME, ''))
                        ORDER BY ORDINAL_POSITION SEPARATOR '\n')) AS digest
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)
GROUP BY TABLE_NAME;
