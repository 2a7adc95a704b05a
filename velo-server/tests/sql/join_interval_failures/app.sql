-- Failed records of a join of two streams go to the DLQ in their own
-- columns: shipment 102 has no event time (line 4 of shipments.csv); the
-- pair of order 1 and shipment 100 divides by zero after the join, so the
-- joined row is the failed record.
CREATE STREAM out AS
SELECT o.order_id, s.ship_id, 1000 / (s.ts - o.ts - 500) AS x
FROM orders o JOIN shipments s
  ON o.order_id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '10' SECOND
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'shipments.type' = 'file_source', 'shipments.path' = 'shipments.csv',
      'event.time.field' = 'ts', 'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'dlq',
      'dlq.type' = 'file_sink', 'dlq.path' = 'dlq.jsonl',
      'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
