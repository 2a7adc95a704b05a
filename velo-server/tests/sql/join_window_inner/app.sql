-- A window join (Flink's): both inputs read through the same TUMBLE, the ON
-- equates their windows; a window's pairs come out when the watermark
-- passes its end (order 3's shipment is in the next window).
SELECT o.order_id, s.ship_id, o.window_start
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND)) o
JOIN TABLE(TUMBLE(TABLE shipments, DESCRIPTOR(ts), INTERVAL '10' SECOND)) s
  ON o.order_id = s.order_id AND o.window_start = s.window_start AND o.window_end = s.window_end
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv');
