-- MariaDB stores JSON as LONGTEXT with a JSON_VALID check; MySQL has a real JSON type and a
-- CHECK_CONSTRAINTS view without TABLE_NAME, so this query is only sent to MariaDB.
SELECT TABLE_NAME AS table_name, CHECK_CLAUSE AS check_clause
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME IN (?);
