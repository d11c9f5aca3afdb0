-- Fences a (source, table) unit: one process at a time applies it. Session-level, so it is held across
-- the unit's transactions and released when the connection ends, also when the process dies.
SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked;
