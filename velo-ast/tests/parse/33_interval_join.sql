SELECT o.id, p.amount
FROM orders o
JOIN payments p ON o.id = p.order_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '5' MINUTE
EMIT CHANGES
