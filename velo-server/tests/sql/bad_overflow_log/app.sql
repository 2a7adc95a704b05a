-- row 2 overflows in v + 1, row 3 in v - 1
CREATE STREAM out AS SELECT id, v + 1 AS up, v - 1 AS down FROM nums
WITH ('nums.type' = 'file_source', 'nums.path' = 'nums.csv', 'nums.schema' = 'id BIGINT, v BIGINT', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
