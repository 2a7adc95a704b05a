-- A chain: the second join's key comes from the first table's row.
SELECT o.order_id, name, r.label
FROM orders o
JOIN customers c ON o.customer_id = c.id
JOIN regions r ON c.region = r.code
WHERE o.amount > 2
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'customers.type' = 'file_source', 'customers.path' = 'customers.csv',
      'customers.kind' = 'table', 'customers.key' = 'id',
      'regions.type' = 'file_source', 'regions.path' = 'regions.csv',
      'regions.kind' = 'table', 'regions.key' = 'code');
