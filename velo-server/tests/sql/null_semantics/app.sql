CREATE STREAM out AS
SELECT order_id, amount, amount > 100 AS big, amount IS NULL AS missing, COALESCE(amount, -1) AS amount_or_default,
       NULLIF(qty, 0) AS qty_or_null
FROM orders WHERE order_id >= 4 AND order_id <= 5
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
