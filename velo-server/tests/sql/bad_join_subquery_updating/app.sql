-- A join input whose rows update (an EMIT CHANGES aggregate) is refused: the
-- join would pair every update as a new row.
SELECT o.customer, s.ship_id
FROM (SELECT customer, MAX(order_id) AS order_id FROM orders GROUP BY customer) o
JOIN shipments s ON o.order_id = s.order_id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv');
