SELECT symbol, window_start, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY symbol, window_start, window_end WINDOW TUMBLING(ts, 1m)
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
