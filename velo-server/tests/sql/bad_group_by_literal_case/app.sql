-- literals are compared exactly: customer || '!' is not the key customer || '?'
CREATE TABLE out AS SELECT customer || '!' AS c, COUNT(*) AS n FROM orders GROUP BY customer || '?'
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
