-- A column is the same column however it is qualified: the select list's
-- `symbol` is the GROUP BY key `t.symbol`.
SELECT symbol, trades.symbol AS again, COUNT(*) AS n, SUM(t.qty) AS total
FROM trades AS t GROUP BY t.symbol EMIT FINAL
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
