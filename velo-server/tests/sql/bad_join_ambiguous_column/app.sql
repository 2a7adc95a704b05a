SELECT order_id, name
FROM orders o JOIN customers c ON o.customer_id = c.id
JOIN customers d ON o.customer_id = d.id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'customers.type' = 'file_source', 'customers.path' = 'customers.csv',
      'customers.kind' = 'table', 'customers.key' = 'id');
