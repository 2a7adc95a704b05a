CREATE STREAM out AS SELECT customer, COUNT(*) FROM orders GROUP BY customer
WINDOW TUMBLING(ts, INTERVAL '0' MINUTE)
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
