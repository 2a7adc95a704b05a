CREATE STREAM out AS
SELECT symbol, _window_start, _window_end, COUNT(*) AS n, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW SLIDING(ts, 2m, 1m) EMIT CHANGES
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
