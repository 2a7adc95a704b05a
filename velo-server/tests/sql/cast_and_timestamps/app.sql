CREATE STREAM out AS
SELECT order_id, CAST(amount AS DECIMAL(10,2)) AS exact, CAST(qty AS VARCHAR) AS qty_text, ts,
       EXTRACT(HOUR FROM ts) AS hour, EXTRACT(MINUTE FROM ts) AS minute
FROM orders WHERE order_id <= 3
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
