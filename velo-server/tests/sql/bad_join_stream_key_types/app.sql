-- The join keys of two streams must have one type.
SELECT o.order_id, s.ship_id
FROM orders o JOIN shipments s
  ON o.customer = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' MINUTE
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
