-- OVER over a window's rows: per symbol, the rows of the last two one-minute
-- windows it had rows in, summed, as each window closes.
SELECT symbol, window_start, n,
       SUM(n) OVER (PARTITION BY symbol ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS last_two
FROM (SELECT symbol, _window_start AS window_start, COUNT(*) AS n
      FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)) AS w
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
