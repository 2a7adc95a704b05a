-- command: check
-- 63 nested parentheses; sqlparser's recursion limit of 64 allows 62.
CREATE STREAM out AS
SELECT order_id,
       (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((qty))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))) AS q
FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
