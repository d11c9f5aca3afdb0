-- Evidence for gap expiry: the transactions alive right now. A change id missing from the changelog
-- can only still appear if the transaction holding it is one of these.
SELECT CAST(trx_id AS CHAR) AS trx_id, NOW(6) AS read_at FROM information_schema.INNODB_TRX
UNION ALL
SELECT NULL, NOW(6);
