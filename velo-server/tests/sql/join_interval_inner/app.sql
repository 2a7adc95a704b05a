-- An interval join: each order with the shipments of the same order within
-- 10 seconds after it (shipment 103 is 12 s late, order 4 has none, shipment
-- 105 has no order).
SELECT o.order_id, o.customer, s.ship_id, s.ts - o.ts AS delay_ms
FROM orders o JOIN shipments s
  ON o.order_id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '10' SECOND
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
