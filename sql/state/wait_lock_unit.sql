-- Like lock_unit, but waits: used by repairs, which must not interleave with a pass on the same unit.
SELECT pg_advisory_lock(hashtextextended($1, 0));
