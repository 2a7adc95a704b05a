SELECT o.order_id, s.ts
FROM orders o LEFT JOIN shipments s ON o.order_id = s.order_id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv');
