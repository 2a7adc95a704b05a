CREATE STREAM out AS
SELECT symbol, COUNT(*) AS n
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)
ORDER BY n DESC LIMIT 2 EMIT CHANGES
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
