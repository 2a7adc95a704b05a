-- WINDOW SLIDING(ts, size, advance) (a) and HOP(TABLE t, DESCRIPTOR(ts), slide, size) (b),
-- with window_time (window_end - 1 ms) and HAVING / ORDER BY on the window columns.
CREATE STREAM a AS
SELECT symbol, _window_start AS window_start, _window_end - 1 AS window_time, COUNT(*) AS n
FROM trades GROUP BY symbol WINDOW SLIDING(ts, INTERVAL '2' MINUTE, INTERVAL '1' MINUTE)
HAVING COUNT(*) > 0 AND _window_end > _window_start ORDER BY n DESC, symbol
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl');
CREATE STREAM b AS
SELECT symbol, window_start, window_time, COUNT(*) AS n
FROM TABLE(HOP(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '2' MINUTE)) AS t
GROUP BY window_start, window_end, symbol
HAVING COUNT(*) > 0 AND window_end > t.window_start ORDER BY n DESC, symbol
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
