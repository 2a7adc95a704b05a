-- An interval join bounds the time from both sides.
SELECT o.order_id, s.ship_id
FROM orders o JOIN shipments s
  ON o.order_id = s.order_id AND s.ts >= o.ts
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
