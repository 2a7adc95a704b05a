SELECT o.region, SUM(o.amount) FROM orders o GROUP BY o.region WINDOW TUMBLING(o.order_time, 1h)
