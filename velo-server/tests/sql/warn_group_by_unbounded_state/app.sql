CREATE STREAM out AS SELECT customer, SUM(qty) AS total FROM orders GROUP BY customer
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
