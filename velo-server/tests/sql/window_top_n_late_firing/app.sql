-- command: run --batch-size 2
CREATE STREAM out AS
SELECT _window_start, symbol, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)
ORDER BY total DESC LIMIT 1
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'late.data.strategy' = 'process_all');
