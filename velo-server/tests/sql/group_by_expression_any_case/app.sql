-- a select item matches its GROUP BY key whatever the case of its names:
-- upper(customer) and UPPER(Customer) are one expression
CREATE TABLE out AS SELECT UPPER(Customer) AS c, count(*) AS n, Sum(qty) AS q FROM orders GROUP BY upper(customer) EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
