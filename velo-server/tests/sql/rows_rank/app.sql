CREATE STREAM out AS
SELECT symbol, price,
       RANK() OVER (PARTITION BY symbol ORDER BY price ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS rnk,
       DENSE_RANK() OVER (PARTITION BY symbol ORDER BY price ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS drnk
FROM ticks
WITH ('ticks.type' = 'file_source', 'ticks.path' = 'ticks.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
