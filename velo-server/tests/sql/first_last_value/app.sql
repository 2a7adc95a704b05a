CREATE TABLE out AS
SELECT customer, FIRST_VALUE(order_id) AS first_order, LAST_VALUE(order_id) AS last_order
FROM orders GROUP BY customer EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
