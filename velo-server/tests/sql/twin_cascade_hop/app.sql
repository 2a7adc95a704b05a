-- Cascading windows: a sliding window (HOP, 4 minutes every 2) over the rows of
-- one-minute windows, read by their window_time, in the WINDOW clause's
-- spelling (b), gives the sliding window over the source rows (a).
CREATE STREAM a AS
SELECT symbol, _window_start AS window_start, COUNT(*) AS n
FROM trades GROUP BY symbol WINDOW SLIDING(ts, INTERVAL '4' MINUTE, INTERVAL '2' MINUTE)
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl');
CREATE STREAM b AS
SELECT symbol, _window_start AS window_start, SUM(n) AS n
FROM (SELECT symbol, _window_end - 1 AS wt, COUNT(*) AS n FROM trades
      GROUP BY symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT FINAL) AS m
GROUP BY symbol WINDOW SLIDING(wt, INTERVAL '4' MINUTE, INTERVAL '2' MINUTE)
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
