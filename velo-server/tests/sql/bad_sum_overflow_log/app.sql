-- the third 'a' record overflows SUM: it is skipped and must leave the group's state (n and total) unchanged
CREATE STREAM out AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM nums GROUP BY k
WITH ('nums.type' = 'file_source', 'nums.path' = 'nums.csv', 'nums.schema' = 'k VARCHAR, v BIGINT', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
