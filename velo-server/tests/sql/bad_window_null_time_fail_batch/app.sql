-- command: run --batch-size 2
CREATE STREAM out AS
SELECT symbol, _window_start, COUNT(*) AS n, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m) EMIT CHANGES
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.jsonl', 'trades.format' = 'json', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'fail_batch');
