CREATE STREAM out AS
SELECT order_id, ABS(-qty) AS a, ROUND(amount, 1) AS r, CEIL(amount) AS c, FLOOR(amount) AS f,
       MOD(qty, 2) AS m, POWER(qty, 2) AS p, SQRT(qty) AS s, LEAST(qty, 2) AS lo, GREATEST(qty, 2) AS hi
FROM orders WHERE order_id <= 3
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
