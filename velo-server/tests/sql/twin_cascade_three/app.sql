-- Three levels of windows, each over the rows of the one before (one minute,
-- two minutes, six minutes, read by window_time), give the six-minute windows
-- over the source rows.
CREATE STREAM a AS
SELECT symbol, _window_start AS window_start, COUNT(*) AS n, MIN(qty) AS low
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, INTERVAL '6' MINUTE)
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl');
CREATE STREAM b AS
WITH one AS (
  SELECT symbol, window_time, COUNT(*) AS n, MIN(qty) AS low
  FROM TABLE(TUMBLE(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
  GROUP BY symbol, window_start, window_end),
two AS (
  SELECT symbol, window_time, SUM(n) AS n, MIN(low) AS low
  FROM TABLE(TUMBLE(TABLE one, DESCRIPTOR(window_time), INTERVAL '2' MINUTE))
  GROUP BY symbol, window_start, window_end)
SELECT symbol, window_start, SUM(n) AS n, MIN(low) AS low
FROM TABLE(TUMBLE(TABLE two, DESCRIPTOR(window_time), INTERVAL '6' MINUTE))
GROUP BY symbol, window_start, window_end
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
