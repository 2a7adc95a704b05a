-- The max per window of per-key counts: a GROUP BY over the rows of an EMIT FINAL
-- tumbling window, run as a second stage over the subquery's rows. EMIT CHANGES
-- (changes.jsonl) updates a window's max with each row the subquery emits; EMIT
-- FINAL (final.jsonl) gives each window's max at the end of input; top.jsonl sorts
-- and limits the second stage's rows (the window with the largest per-key count).
CREATE STREAM changes AS
SELECT window_start, MAX(n) AS most
FROM (SELECT symbol, _window_start AS window_start, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)) AS w
GROUP BY window_start
WITH ('changes.type' = 'file_sink', 'changes.path' = 'changes.jsonl');
CREATE STREAM final AS
WITH per_key AS (SELECT symbol, window_start, COUNT(*) AS n
                 FROM TABLE(TUMBLE(TABLE trades, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
                 GROUP BY symbol, window_start, window_end)
SELECT w.window_start, MAX(n) AS most, COUNT(*) AS keys FROM per_key AS w
WHERE n > 0 GROUP BY w.window_start HAVING MAX(n) >= 1 EMIT FINAL
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'final.type' = 'file_sink', 'final.path' = 'final.jsonl');
CREATE STREAM top AS
SELECT window_start, MAX(n) AS most
FROM (SELECT symbol, _window_start AS window_start, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)) AS w
GROUP BY window_start ORDER BY most DESC, window_start LIMIT 2 EMIT FINAL
WITH ('top.type' = 'file_sink', 'top.path' = 'top.jsonl');
