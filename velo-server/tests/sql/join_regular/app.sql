-- A regular join (equalities only): every matching pair, whatever the times;
-- the state keeps every row, which the job warns about.
SELECT o.order_id, s.ship_id
FROM orders o JOIN shipments s ON o.order_id = s.order_id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv');
