-- OVER over an EMIT CHANGES aggregate would count every update as a row.
SELECT symbol, SUM(n) OVER (PARTITION BY symbol ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s
FROM (SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol) AS counts
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
