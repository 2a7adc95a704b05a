SELECT symbol, COUNT(DISTINCT trader_id) AS traders, COUNT(*), COUNT(price) FROM trades GROUP BY symbol
