-- command: run --batch-size 1
-- WINDOW SESSION (a) and Flink's SESSION table function with PARTITION BY (b).
CREATE STREAM a AS
SELECT uid, _window_start AS window_start, _window_end AS window_end, COUNT(*) AS n
FROM clicks GROUP BY uid WINDOW SESSION(ts, 30s)
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl', 'watermark.max_out_of_orderness' = '60s');
CREATE STREAM b AS
SELECT uid, window_start, window_end, COUNT(*) AS n
FROM TABLE(SESSION(TABLE clicks PARTITION BY uid, DESCRIPTOR(ts), INTERVAL '30' SECOND))
GROUP BY uid, window_start, window_end
WITH ('clicks.type' = 'file_source', 'clicks.path' = 'clicks.csv', 'watermark.max_out_of_orderness' = '60s',
      'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
