SELECT symbol, AVG(price) FROM trades GROUP BY symbol WINDOW TUMBLING(1m)
