-- command: run --batch-size 1
CREATE STREAM out AS
SELECT uid, _window_start, _window_end, COUNT(*) AS n
FROM clicks GROUP BY uid WINDOW SESSION(ts, 30s) EMIT CHANGES
WITH ('clicks.type' = 'file_source', 'clicks.path' = 'clicks.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl',
      'watermark.max_out_of_orderness' = '60s');
