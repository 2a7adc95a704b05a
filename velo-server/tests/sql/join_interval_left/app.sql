-- LEFT interval join: an order without a shipment in its interval comes out
-- once, with NULLs, when the watermark passes its bound (here at the end).
-- Written with >= and <=, and each stream's own event-time field.
SELECT o.order_id, o.customer, s.ship_id
FROM orders o LEFT JOIN shipments s
  ON s.order_id = o.order_id AND s.ts >= o.ts AND s.ts <= o.ts + INTERVAL '10' SECOND
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'orders.event.time.field' = 'ts', 'shipments.event.time.field' = 'ts');
