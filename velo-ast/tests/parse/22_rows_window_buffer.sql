SELECT
  symbol,
  price,
  AVG(price) OVER (ROWS WINDOW BUFFER 20 ROWS PARTITION BY symbol ORDER BY ts) AS moving_avg,
  COUNT(*) OVER (ROWS WINDOW BUFFER 1 ROWS) AS one
FROM trades
