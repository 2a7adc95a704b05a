-- Cascading windows: five-minute windows over the rows of one-minute windows,
-- read by their window_time (b), give the five-minute windows over the source
-- rows (a): a count is the sum of the counts of the minutes it spans.
CREATE STREAM a AS
SELECT symbol AS sym, _window_start AS window_start, COUNT(*) AS n, SUM(qty) AS total, MAX(qty) AS top
FROM trades GROUP BY symbol WINDOW TUMBLING(ts, INTERVAL '5' MINUTE)
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl');
CREATE STREAM b AS
WITH per_minute AS (
  SELECT symbol, window_time, COUNT(*) AS n, SUM(qty) AS total, MAX(qty) AS top
  FROM TABLE(TUMBLE(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
  GROUP BY symbol, window_start, window_end)
SELECT symbol AS sym, window_start, SUM(n) AS n, SUM(total) AS total, MAX(top) AS top
FROM TABLE(TUMBLE(TABLE per_minute, DESCRIPTOR(window_time), INTERVAL '5' MINUTE))
GROUP BY symbol, window_start, window_end
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
