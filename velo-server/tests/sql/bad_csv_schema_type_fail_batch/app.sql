CREATE STREAM out AS SELECT id, qty FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'orders.schema' = 'id BIGINT, qty BIGINT', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'fail_batch');
