-- A sink may not write the file a join's second stream reads.
CREATE STREAM out AS SELECT o.order_id FROM orders o JOIN shipments s ON o.order_id = s.order_id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'out.type' = 'file_sink', 'out.path' = 'shipments.csv');
