-- command: run --batch-size 2
CREATE STREAM out AS
SELECT _window_start, symbol, COUNT(*) AS n, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)
ORDER BY n DESC LIMIT 2 EMIT FINAL
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
