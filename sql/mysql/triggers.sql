-- Triggers in the connected database whose names Tributary owns.
SELECT TRIGGER_NAME AS trigger_name,
       EVENT_MANIPULATION AS event,
       ACTION_TIMING AS timing,
       EVENT_OBJECT_TABLE AS table_name,
       ACTION_STATEMENT AS body
FROM information_schema.TRIGGERS
WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'tributary\_%';
