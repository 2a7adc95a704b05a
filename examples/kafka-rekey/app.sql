-- Per-symbol trade statistics from a `trades` topic that is NOT keyed by
-- symbol (say its producers key it by trader). Run it with several
-- instances of the same app: each instance runs both jobs.
--
-- Job 1 (stateless, so any instance may take any partition): re-key every
-- trade by symbol into `trades-by-symbol`; the Kafka sink's message key is the
-- PRIMARY KEY column, so all trades of a symbol land in one partition.
--
-- Job 2: aggregate the re-keyed topic. Its source declares that it is
-- partitioned by `symbol`, the GROUP BY key, so every symbol's window is
-- computed whole by the one instance that owns its partition. Job 1 reads the
-- input's partitions side by side, so a re-keyed partition receives their
-- trades interleaved: allow for that disorder in the watermark (here 10 s).
--
-- Start a broker, create the topics (several partitions each), then:
--   VELO_KAFKA_BROKERS=localhost:9092 velo-server run examples/kafka-rekey/app.sql

CREATE STREAM rekeyed AS
SELECT symbol PRIMARY KEY, trader_id, price, quantity, trade_time
FROM trades
WITH ('trades.type' = 'kafka_source', 'trades.topic' = 'trades',
      'trades.group.id' = 'rekey',
      'trades.schema' = 'trader_id VARCHAR, symbol VARCHAR, price DOUBLE, quantity BIGINT, trade_time TIMESTAMP',
      'rekeyed.type' = 'kafka_sink', 'rekeyed.topic' = 'trades-by-symbol');

CREATE STREAM symbol_stats AS
SELECT symbol PRIMARY KEY, COUNT(*) AS trades, SUM(quantity) AS volume,
       AVG(price) AS avg_price, _window_start, _window_end
FROM by_symbol
GROUP BY symbol
WINDOW TUMBLING(trade_time, INTERVAL '1' MINUTE)
WITH ('by_symbol.type' = 'kafka_source', 'by_symbol.topic' = 'trades-by-symbol',
      'by_symbol.group.id' = 'symbol-stats', 'by_symbol.partition.key' = 'symbol',
      'by_symbol.schema' = 'symbol VARCHAR, trader_id VARCHAR, price DOUBLE, quantity BIGINT, trade_time TIMESTAMP',
      'event.time.field' = 'trade_time', 'watermark.max_out_of_orderness' = '10s',
      'symbol_stats.type' = 'kafka_sink', 'symbol_stats.topic' = 'symbol-stats');
