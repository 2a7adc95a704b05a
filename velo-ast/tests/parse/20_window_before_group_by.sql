SELECT region, SUM(amount) FROM orders WINDOW TUMBLING(order_time, 1h) GROUP BY region
