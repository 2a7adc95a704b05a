CREATE STREAM out AS
SELECT order_id, customer, amount FROM orders WHERE order_id <= 4
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.csv', 'out.format' = 'csv');
