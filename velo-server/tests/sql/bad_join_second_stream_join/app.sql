-- A job joins its FROM stream with at most one other stream.
SELECT o.order_id, s.ship_id, r.ship_id AS other
FROM orders o JOIN shipments s ON o.order_id = s.order_id
  JOIN shipments r ON o.order_id = r.order_id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv');
