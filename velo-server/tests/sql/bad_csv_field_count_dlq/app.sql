CREATE STREAM out AS SELECT id, name, amount FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl', 'bad_rows.format' = 'jsonl', 'dlq.sink' = 'bad_rows',
      'failure_strategy' = 'send_to_dlq');
