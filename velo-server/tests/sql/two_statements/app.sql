CREATE STREAM shipped AS SELECT order_id FROM orders WHERE status = 'shipped'
WITH ('shipped.type' = 'file_sink', 'shipped.path' = 'shipped.jsonl', 'shipped.format' = 'jsonl');
INSERT INTO pending SELECT order_id FROM orders WHERE status = 'pending'
WITH ('pending.type' = 'file_sink', 'pending.path' = 'pending.jsonl', 'pending.format' = 'jsonl');
-- the source is declared once for the whole app
SELECT COUNT(*) AS n FROM orders EMIT FINAL WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv');
