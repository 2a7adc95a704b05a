SELECT symbol, COUNT(*) AS n, _window_start, _window_end
FROM trades
GROUP BY symbol
WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)
