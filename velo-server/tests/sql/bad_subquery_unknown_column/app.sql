WITH t AS (SELECT symbol, qty FROM trades)
SELECT symbol, ts FROM t
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv');
