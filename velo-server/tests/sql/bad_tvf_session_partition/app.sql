SELECT symbol, window_start, COUNT(*) AS n
FROM TABLE(SESSION(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY symbol, window_start, window_end
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
