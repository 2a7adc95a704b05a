-- A window over a window's rows may read window_start as its time: each
-- five-minute window counts the one-minute windows a symbol had rows in.
SELECT symbol, COUNT(*) AS windows
FROM (SELECT symbol, _window_start AS window_start, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)) AS w
GROUP BY symbol WINDOW TUMBLING(window_start, 5m)
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
