CREATE STREAM out AS SELECT customer FROM orders
WITH ('orders.type' = 'ftp_source', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
