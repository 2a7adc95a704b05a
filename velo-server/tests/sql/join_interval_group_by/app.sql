-- An interval join feeding a GROUP BY on the join key: shipments per order.
SELECT o.order_id, COUNT(*) AS shipments, MAX(s.ts - o.ts) AS slowest_ms
FROM orders o JOIN shipments s
  ON o.order_id = s.order_id AND s.ts BETWEEN o.ts - INTERVAL '1' SECOND AND o.ts + INTERVAL '10' SECOND
GROUP BY o.order_id EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
