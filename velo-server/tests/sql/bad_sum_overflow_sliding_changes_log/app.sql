-- the third record (a, 10, 10:01:40) falls into the sliding windows [10:00, 10:02), where the total would be
-- fine, and [10:01, 10:03), where SUM overflows: it is skipped, emits no row and must leave both windows unchanged
CREATE STREAM out AS
SELECT k, _window_start, _window_end, COUNT(*) AS n, SUM(v) AS total
FROM nums GROUP BY k WINDOW SLIDING(ts, INTERVAL '2' MINUTE, INTERVAL '1' MINUTE) EMIT CHANGES
WITH ('nums.type' = 'file_source', 'nums.path' = 'nums.csv', 'nums.schema' = 'k VARCHAR, v BIGINT, ts BIGINT', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
