-- A tumbling window (TUMBLE table function) over a common table expression (b)
-- is the flat WINDOW-clause query (a).
CREATE STREAM a AS
SELECT symbol AS sym, _window_start AS window_start, COUNT(*) AS n, SUM(qty) AS total
FROM trades WHERE qty >= 5 GROUP BY symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl');
CREATE STREAM b AS
WITH big AS (SELECT symbol AS sym, qty, ts FROM trades WHERE qty >= 5)
SELECT sym, window_start, COUNT(*) AS n, SUM(qty) AS total
FROM TABLE(TUMBLE(TABLE big, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY sym, window_start, window_end
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
