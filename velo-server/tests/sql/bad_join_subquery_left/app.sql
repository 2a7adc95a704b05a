-- A LEFT join with a subquery input is not supported yet (INNER is).
SELECT o.order_id, s.ship_id
FROM (SELECT order_id, ts FROM orders WHERE amount > 10) o LEFT JOIN shipments s
  ON o.order_id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '10' SECOND
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
