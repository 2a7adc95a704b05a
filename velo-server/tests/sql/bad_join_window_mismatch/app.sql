-- The inputs of a window join need the same window.
SELECT o.order_id, s.ship_id
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND)) o
JOIN TABLE(TUMBLE(TABLE shipments, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) s
  ON o.order_id = s.order_id AND o.window_start = s.window_start AND o.window_end = s.window_end
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv');
