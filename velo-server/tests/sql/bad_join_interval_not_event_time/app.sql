-- An interval join bounds the inputs' event time, not any other column.
SELECT o.order_id, s.ship_id
FROM orders o JOIN shipments s
  ON o.order_id = s.order_id AND s.ship_id BETWEEN o.ts AND o.ts + INTERVAL '1' MINUTE
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
