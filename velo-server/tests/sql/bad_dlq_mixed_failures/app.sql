-- three DLQ rows: line 3 division by zero, line 4 field count, line 5 'x' is not a BIGINT
CREATE STREAM out AS SELECT id, 100 / qty AS per_item FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'orders.schema' = 'id BIGINT, qty BIGINT', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl', 'bad_rows.format' = 'jsonl', 'dlq.sink' = 'bad_rows',
      'failure_strategy' = 'send_to_dlq');
