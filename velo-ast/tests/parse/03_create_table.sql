CREATE TABLE volume_by_symbol AS
SELECT symbol, COUNT(*) AS trades, SUM(quantity) AS volume
FROM trades
GROUP BY symbol
EMIT CHANGES
WITH ('trades.type' = 'stdin_source', 'trades.format' = 'json', 'volume_by_symbol.type' = 'stdout_sink')
