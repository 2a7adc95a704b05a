CREATE STREAM out AS
SELECT order_id, customer, amount * 2 AS double_amount
FROM orders
WHERE amount > 100
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
