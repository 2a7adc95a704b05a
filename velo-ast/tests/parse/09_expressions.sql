SELECT
  CASE WHEN price > 100 THEN 'high' WHEN price > 10 THEN 'mid' ELSE 'low' END AS band,
  CASE side WHEN 'B' THEN 1 ELSE -1 END AS sign,
  CAST(quantity AS DOUBLE) AS q,
  CAST(price AS DECIMAL(10, 2)) AS p,
  EXTRACT(HOUR FROM ts) AS hour,
  note IS NULL AS no_note
FROM trades
WHERE symbol IN ('AAPL', 'MSFT')
  AND symbol NOT IN ('X')
  AND price BETWEEN 10 AND 20
  AND trader LIKE 'desk-%'
  AND venue IS NOT NULL
  AND NOT (price < 0 OR quantity <= 0)
