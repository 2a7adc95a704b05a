CREATE TABLE out AS
SELECT status, COUNT(DISTINCT customer) AS customers, COUNT(amount) AS priced,
       STDDEV(qty) AS sd, STDDEV_POP(qty) AS sdp, VARIANCE(qty) AS var, VAR_POP(qty) AS varp
FROM orders GROUP BY status EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
