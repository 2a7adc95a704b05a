-- The max per window of per-key counts needs operators chained at run time.
SELECT window_start, MAX(n) AS most
FROM (SELECT symbol, _window_start AS window_start, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)) AS w
GROUP BY window_start
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
