-- A subquery in FROM of a query with a JOIN is refused (its alias would be
-- lost when it is merged): join the sources and filter in WHERE.
SELECT o.order_id, s.ship_id
FROM (SELECT order_id, ts FROM orders WHERE amount > 10) o JOIN shipments s
  ON o.order_id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '10' SECOND
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
