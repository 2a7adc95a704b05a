-- the failing records (qty 0) go to the DLQ and are not counted in their group
CREATE TABLE out AS SELECT customer, COUNT(*) AS n, SUM(100 / qty) AS total FROM orders GROUP BY customer EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl', 'bad_rows.format' = 'jsonl', 'dlq.sink' = 'bad_rows',
      'failure_strategy' = 'send_to_dlq');
