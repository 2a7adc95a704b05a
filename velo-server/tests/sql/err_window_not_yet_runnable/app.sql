CREATE STREAM out AS SELECT customer, COUNT(*) AS n FROM orders GROUP BY customer
WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
