CREATE STREAM out AS
SELECT symbol, _window_start, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m) HAVING SUM(qty) > 5
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
