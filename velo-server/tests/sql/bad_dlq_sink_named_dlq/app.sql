-- the DLQ sink is itself named 'dlq', so 'dlq.sink' shares the prefix of its connector keys
CREATE STREAM out AS SELECT id, 100 / qty AS per_item FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'dlq.type' = 'file_sink', 'dlq.path' = 'dlq.jsonl', 'dlq.format' = 'jsonl', 'dlq.sink' = 'dlq',
      'failure_strategy' = 'send_to_dlq');
