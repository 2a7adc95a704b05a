CREATE STREAM out AS
SELECT symbol, price,
       AVG(price) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY symbol ORDER BY ts) AS avg3,
       MIN(price) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY symbol ORDER BY ts) AS min3,
       MAX(price) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY symbol ORDER BY ts) AS max3,
       COUNT(*) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY symbol ORDER BY ts) AS n3,
       SUM(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS sum3
FROM ticks
WITH ('ticks.type' = 'file_source', 'ticks.path' = 'ticks.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
