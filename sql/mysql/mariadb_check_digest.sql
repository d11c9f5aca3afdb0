-- MariaDB only, appended to pass_check.sql with UNION ALL: a digest of each configured table's check
-- constraints. MariaDB's JSON is LONGTEXT with a JSON_VALID check, so a check added or dropped changes
-- what introspection reads (a column's isJson) without changing COLUMNS. MySQL has a real JSON type
-- (in COLUMN_TYPE) and a CHECK_CONSTRAINTS view without TABLE_NAME, so it is not sent there.
SELECT 'checks', TABLE_NAME,
       MD5(GROUP_CONCAT(CONCAT_WS(' ', CONSTRAINT_NAME, CHECK_CLAUSE) ORDER BY CONSTRAINT_NAME SEPARATOR '\n')),
       NULL, NULL, NULL
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME IN (?)
GROUP BY TABLE_NAME;
