-- A join of two streams inside a subquery that filters and projects; the
-- outer query counts the shipments per order (the subquery is merged into it,
-- the join with it).
SELECT id, COUNT(*) AS shipments, MAX(delay) AS slowest
FROM (SELECT o.order_id AS id, s.ts - o.ts AS delay
      FROM orders o JOIN shipments s
        ON o.order_id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '10' SECOND
      WHERE o.amount > 10) AS j
GROUP BY id EMIT FINAL
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts');
