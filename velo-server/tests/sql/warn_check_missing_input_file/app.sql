-- command: check
-- The input file does not exist yet: check warns (run would fail with the same message), exit 0
CREATE STREAM out AS SELECT customer FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'missing.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
