CREATE TABLE out AS
SELECT COUNT(*) AS n, SUM(qty) AS q, MAX(ts) AS latest FROM orders EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
