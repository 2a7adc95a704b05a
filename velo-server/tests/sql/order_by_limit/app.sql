CREATE STREAM out AS
SELECT order_id, customer, amount FROM orders WHERE amount IS NOT NULL ORDER BY amount DESC LIMIT 3
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
