INSERT INTO tributary.rejects (source_id, source_table, target_table, row_key, key_text, column_name, raw_value, reason, action)
SELECT $1, $2, $3, r.row_key, r.key_text, r.column_name, decode(r.raw_hex, 'hex'), r.reason, r.action
FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
     AS r(row_key, key_text, column_name, raw_hex, reason, action)
ON CONFLICT (source_id, source_table, row_key, column_name)
DO UPDATE SET raw_value = EXCLUDED.raw_value, reason = EXCLUDED.reason, action = EXCLUDED.action,
              rejected_at = now();
