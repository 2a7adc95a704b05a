-- A subquery in FROM of a join of two streams runs as a stage of its own,
-- whose rows the join reads: orders over 10 with their shipments within 10 s.
SELECT o.order_id, s.ship_id
FROM (SELECT order_id, ts FROM orders WHERE amount > 10) o JOIN shipments s
  ON o.order_id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '10' SECOND
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
