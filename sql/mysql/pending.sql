-- Changes waiting above the watermark, and the capture time of the oldest (for lag).
SELECT COUNT(*) AS pending, MIN(captured_at) AS oldest, NOW(6) AS now_at
FROM ?? WHERE change_id > ?;
