-- Base tables of the connected database, Tributary's own changelogs and consumer table left out
-- (recognised by the marker in their comment, not by name: a user table named tributary_log_x is listed).
SELECT TABLE_NAME AS table_name, TABLE_ROWS AS table_rows
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'
  AND TABLE_COMMENT NOT LIKE 'tributary:changelog:%' AND TABLE_COMMENT NOT LIKE 'tributary changelog token %'
  AND TABLE_COMMENT NOT LIKE 'tributary:consumers:%'
ORDER BY TABLE_NAME;
