-- InnoDB's row estimate (from statistics; may be off by a fair margin, never scans the table).
SELECT TABLE_ROWS AS table_rows FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?;
