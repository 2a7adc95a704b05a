SELECT symbol, SUM(quantity) AS volume
FROM trades
WHERE price > 0
GROUP BY symbol
WINDOW TUMBLING(ts, 1h)
HAVING SUM(quantity) > 1000
ORDER BY volume DESC, symbol ASC, 1
LIMIT 10
EMIT FINAL
WITH ('trades.type' = 'file_source')
