-- row 2's event time does not parse, row 4's is NULL: both go to the DLQ
CREATE STREAM out AS
SELECT symbol, _window_start, COUNT(*) AS n, SUM(qty) AS total
FROM trades GROUP BY symbol WINDOW TUMBLING(1m)
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'trades.schema' = 'symbol VARCHAR, qty BIGINT, at VARCHAR', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'event.time.field' = 'at', 'event.time.format' = 'iso8601',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl', 'bad_rows.format' = 'jsonl', 'dlq.sink' = 'bad_rows',
      'failure_strategy' = 'send_to_dlq');
