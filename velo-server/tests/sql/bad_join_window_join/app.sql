-- A window join reads both inputs through windowing table functions.
SELECT o.order_id, s.ship_id
FROM orders o JOIN shipments s
  ON o.order_id = s.order_id AND o.window_start = s.window_start AND o.window_end = s.window_end
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
