-- row 2 has no event time: skipped with a warning, not assigned to any window
CREATE STREAM out AS
SELECT symbol, _window_start, COUNT(*) AS n, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
