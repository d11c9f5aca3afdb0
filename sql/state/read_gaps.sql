-- Open gaps, and expired ones still within the re-check window ($3 seconds); expired ones past it
-- are dropped in the same round trip (the SELECT leaves them out by the same condition). Each row
-- is a range of ids: change_id is its first id, last_id its last.
WITH dropped AS (
  DELETE FROM tributary.gaps
  WHERE source_id = $1 AND source_table = $2 AND expired_at <= now() - make_interval(secs => $3)
)
SELECT change_id::text AS first_id, last_id::text AS last_id,
       to_char(first_seen_source, 'YYYY-MM-DD HH24:MI:SS.US') AS first_seen_source,
       extract(epoch FROM first_seen_at) AS first_seen_epoch,
       holders, expired_at IS NOT NULL AS expired
FROM tributary.gaps
WHERE source_id = $1 AND source_table = $2
  AND (expired_at IS NULL OR expired_at > now() - make_interval(secs => $3))
ORDER BY change_id;
