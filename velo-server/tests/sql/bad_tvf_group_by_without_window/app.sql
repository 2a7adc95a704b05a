SELECT symbol, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY symbol
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
