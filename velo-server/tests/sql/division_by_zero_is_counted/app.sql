CREATE STREAM out AS
SELECT order_id, 10 / qty AS per_item FROM orders WHERE order_id >= 4 AND order_id <= 6
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
