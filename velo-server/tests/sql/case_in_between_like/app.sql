CREATE STREAM out AS
SELECT order_id,
       CASE WHEN amount >= 150 THEN 'large' WHEN amount >= 100 THEN 'medium' ELSE 'small' END AS size,
       status IN ('shipped', 'pending') AS open_or_done,
       qty BETWEEN 1 AND 3 AS few,
       customer LIKE 'a%' AS starts_with_a
FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
