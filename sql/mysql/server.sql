-- Facts about the source server needed once per run.
SELECT VERSION() AS version, DATABASE() AS db, @@version_comment AS version_comment;
