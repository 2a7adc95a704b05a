-- A stream-table join: each order looks up its customer. Order 3 has no
-- customer and order 5 no customer id, so INNER drops both (counted as
-- filtered); customer 20 appears twice in the table and the later row wins.
SELECT o.order_id, c.name, o.amount
FROM orders o JOIN customers c ON o.customer_id = c.id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'customers.type' = 'file_source', 'customers.path' = 'customers.csv',
      'customers.kind' = 'table', 'customers.key' = 'id');
