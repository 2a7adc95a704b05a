CREATE STREAM out AS
SELECT symbol, _window_start, COUNT(*) AS n
FROM trades GROUP BY symbol WINDOW TUMBLING(1m)
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'event.time.field' = 'at');
