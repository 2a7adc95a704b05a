-- A tumbling window over the joined rows; the joined row's event time is the
-- order's (ts is the stream's column).
SELECT c.name, COUNT(*) AS n, SUM(amount) AS total, _window_start
FROM orders o LEFT JOIN customers c ON o.customer_id = c.id
GROUP BY c.name
WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'customers.type' = 'file_source', 'customers.path' = 'customers.csv',
      'customers.kind' = 'table', 'customers.key' = 'id');
