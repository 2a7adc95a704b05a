SELECT o.order_id, c.name
FROM orders o JOIN customers c ON CAST(o.customer_id AS VARCHAR) = c.id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'customers.type' = 'file_source', 'customers.path' = 'customers.csv',
      'customers.kind' = 'table', 'customers.key' = 'id');
