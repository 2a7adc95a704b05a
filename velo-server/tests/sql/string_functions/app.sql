CREATE STREAM out AS
SELECT UPPER(customer) AS up, LOWER('ABC') AS low, LENGTH(customer) AS len, CONCAT(customer, '-', status) AS tag,
       SUBSTRING(status, 1, 4) AS pre, REPLACE(status, 'e', 'E') AS rep, TRIM('  x  ') AS t, SPLIT_PART('a,b,c', ',', 2) AS second
FROM orders WHERE order_id <= 2
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
