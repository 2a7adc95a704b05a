-- A regular join's pairs can come arbitrarily late: no window over them
-- could close without 'join.state.ttl'.
SELECT o.customer, COUNT(*) AS n
FROM orders o JOIN shipments s ON o.order_id = s.order_id
GROUP BY o.customer WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
