CREATE STREAM big_trades AS
SELECT trader_id, price * quantity AS notional
FROM trades
WHERE price * quantity > 10000
WITH (
    'trades.type' = 'file_source',
    'trades.path' = 'data/trades.csv',
    'trades.format' = 'csv',
    'trades.delimiter' = ';',
    'trades.schema' = 'trader_id BIGINT, price DOUBLE, quantity BIGINT, ts TIMESTAMP',
    'big_trades.type' = 'file_sink',
    'big_trades.path' = 'out/big_trades.jsonl',
    'big_trades.format' = 'jsonl'
);
