-- command: run --batch-size 2
CREATE STREAM out AS
SELECT symbol, _window_start, COUNT(*) AS n, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl',
      'late.data.strategy' = 'process_with_warning');
