-- row 2 has a text id, row 3 a text amount (both fail); row 5's empty amount is NULL, not a failure
CREATE STREAM out AS SELECT id, name, amount FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'orders.schema' = 'id BIGINT, name VARCHAR, amount DOUBLE', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
