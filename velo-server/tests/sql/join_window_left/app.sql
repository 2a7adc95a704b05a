-- A LEFT window join over hopping windows (10 s every 5 s): a row is in two
-- windows, and a left row without a pair in a window comes out with NULLs
-- when that window closes.
SELECT o.order_id, s.ship_id, o.window_start
FROM TABLE(HOP(TABLE orders, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) AS o
LEFT JOIN TABLE(HOP(TABLE shipments, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) AS s
  ON s.window_start = o.window_start AND o.order_id = s.order_id AND s.window_end = o.window_end
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv');
