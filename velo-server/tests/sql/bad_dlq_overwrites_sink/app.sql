-- command: check
CREATE STREAM out AS SELECT id, CAST(name AS BIGINT) AS n FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'out.type' = 'file_sink', 'out.path' = 'out.jsonl',
      'bad.type' = 'file_sink', 'bad.path' = 'out.jsonl',
      'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'bad');
