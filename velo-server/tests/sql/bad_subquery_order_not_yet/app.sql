-- A second stage with ORDER BY / LIMIT (or a window) waits for the operator runtime.
SELECT window_start, MAX(n) AS most
FROM (SELECT symbol, _window_start AS window_start, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)) AS w
GROUP BY window_start ORDER BY most DESC LIMIT 1
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
