CREATE STREAM out AS SELECT id, 100 / qty AS per_item FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'orders');
