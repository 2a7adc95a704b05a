SELECT symbol, MIN(price) FROM trades GROUP BY symbol WINDOW SLIDING(10m, 30s)
