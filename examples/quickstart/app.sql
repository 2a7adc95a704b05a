-- Quickstart: per-symbol trading statistics over a CSV file of trades.
-- Run it with:  cargo run --release -p velo-server -- run examples/quickstart/app.sql
-- The result is written to examples/quickstart/output/symbol_stats.jsonl

CREATE STREAM symbol_stats AS
SELECT symbol,
       COUNT(*)                AS trades,
       SUM(quantity)           AS volume,
       ROUND(AVG(price), 2)    AS avg_price,
       MIN(price)              AS low,
       MAX(price)              AS high
FROM trades
WHERE quantity >= 20
GROUP BY symbol
EMIT FINAL
WITH (
    'trades.type' = 'file_source',
    'trades.path' = 'trades.csv',
    'trades.format' = 'csv',
    'symbol_stats.type' = 'file_sink',
    'symbol_stats.path' = 'output/symbol_stats.jsonl',
    'symbol_stats.format' = 'jsonl',
    -- A GROUP BY without a window keeps one entry per symbol: bound it.
    'max.memory.mb' = '64'
);
