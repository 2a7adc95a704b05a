-- LEFT keeps every order: those without a customer get NULLs.
SELECT o.order_id, c.name, c.region, o.amount
FROM orders o LEFT JOIN customers c ON o.customer_id = c.id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'customers.type' = 'file_source', 'customers.path' = 'customers.csv',
      'customers.kind' = 'table', 'customers.key' = 'id');
