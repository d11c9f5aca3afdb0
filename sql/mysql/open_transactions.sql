-- Evidence for gap expiry: the transactions alive right now that may hold a change id. A change id
-- missing from the changelog can only still appear if the transaction holding it is one of these.
--
-- Only writers count. A change id is taken by the changelog INSERT of an AFTER trigger, so its
-- transaction has written (the triggering row, then the changelog row) before the id exists; a
-- transaction that has not written holds no id, and any id it takes later lies above every id read so
-- far. INNODB_TRX lists every transaction of the server, readers included, and the two servers differ:
--   MariaDB 10.11 shows trx_id 0 for a transaction that has only read (checked here: a plain reader
--     and a START TRANSACTION READ ONLY one show 0; a SELECT .. FOR UPDATE gets a real trx_id with
--     trx_rows_modified 0; a writer shows trx_rows_modified >= 1);
--   MySQL 8 shows a large made-up trx_id for a transaction that has not written (documented for
--     INNODB_TRX: read-only and non-locking transactions get an id that is not a real one).
-- trx_rows_modified (InnoDB's undo record count, documented on both as the rows modified and
-- inserted by the transaction) is the one test that means "has written" on both.
-- A transaction in LOCK WAIT counts too: the changelog INSERT takes its id before InnoDB writes the
-- row, so the one statement that may hold an id before trx_rows_modified moves (a first write that
-- changes no column but still fires the trigger) can be waiting for a lock right then. Readers waiting
-- on a lock keep gaps open only while they wait. A writer that is idle, even in another database,
-- still counts: INNODB_TRX does not say which tables a transaction wrote.
SELECT CAST(trx_id AS CHAR) AS trx_id, NOW(6) AS read_at FROM information_schema.INNODB_TRX
WHERE trx_rows_modified > 0 OR trx_state = 'LOCK WAIT'
UNION ALL
SELECT NULL, NOW(6);
