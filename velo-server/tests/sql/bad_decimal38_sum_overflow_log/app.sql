-- (10^38 - 1) + 1 overflows SUM: that record is skipped and the group's total stays as it was
CREATE STREAM out AS SELECT k, SUM(v) AS total FROM nums GROUP BY k
WITH ('nums.type' = 'file_source', 'nums.path' = 'nums.csv', 'nums.schema' = 'k VARCHAR, v DECIMAL(38,0)', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
