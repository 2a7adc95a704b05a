SELECT MAX(n) AS most FROM (SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol) AS counts
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
