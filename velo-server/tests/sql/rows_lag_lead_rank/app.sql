CREATE STREAM out AS
SELECT symbol, price,
       LAG(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS prev_price,
       LEAD(price, 1, -1) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS next_price,
       ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS rn,
       FIRST_VALUE(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS first_in_frame
FROM ticks
WITH ('ticks.type' = 'file_source', 'ticks.path' = 'ticks.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
