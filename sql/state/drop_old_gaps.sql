DELETE FROM tributary.gaps
WHERE source_id = $1 AND source_table = $2 AND expired_at <= now() - make_interval(secs => $3);
