-- The WINDOW clause (a) and Flink's TUMBLE table function (b) are two spellings
-- of the same window: the same rows, in the same order.
CREATE STREAM a AS
SELECT symbol, _window_start AS window_start, _window_end AS window_end, COUNT(*) AS n, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl');
CREATE STREAM b AS
SELECT symbol, window_start, window_end, COUNT(*) AS n, SUM(qty) AS total
FROM TABLE(TUMBLE(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY symbol, window_start, window_end
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
