-- no failure_strategy: the default, log_and_continue
CREATE STREAM out AS SELECT id, name, amount FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
