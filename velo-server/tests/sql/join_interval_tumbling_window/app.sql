-- An interval join feeding a tumbling window: the joined row's event time is
-- the order's, and the join holds its watermark back by its 10 s bound, so
-- no joined row is late for the window.
SELECT o.customer, COUNT(*) AS n, SUM(s.ts - o.ts) AS total_delay_ms, _window_start
FROM orders o JOIN shipments s
  ON o.order_id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '10' SECOND
GROUP BY o.customer
WINDOW TUMBLING(ts, INTERVAL '10' SECOND)
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
