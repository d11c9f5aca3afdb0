-- verify: the target table's columns and their types as PostgreSQL spells them ($1 = schema.table, quoted).
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped;
