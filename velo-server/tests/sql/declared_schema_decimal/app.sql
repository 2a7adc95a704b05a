CREATE TABLE out AS
SELECT customer, SUM(amount) AS total FROM orders GROUP BY customer EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'orders.schema' = 'order_id BIGINT, customer VARCHAR, amount DECIMAL(10,2), qty BIGINT, status VARCHAR, ts TIMESTAMP', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
