CREATE TABLE out AS
SELECT customer, COUNT(*) AS n, AVG(amount) AS avg_amount, MIN(amount) AS lo, MAX(amount) AS hi
FROM orders GROUP BY customer EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
