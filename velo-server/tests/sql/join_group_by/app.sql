-- GROUP BY over the joined rows, by a column of the table.
SELECT c.region, COUNT(*) AS n, SUM(o.amount) AS total
FROM orders o JOIN customers c ON o.customer_id = c.id
GROUP BY c.region
EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'customers.type' = 'file_source', 'customers.path' = 'customers.csv',
      'customers.kind' = 'table', 'customers.key' = 'id',
      'max.memory.mb' = '16');
