CREATE STREAM out AS SELECT id, v + 1 AS next FROM nums
WITH ('nums.type' = 'file_source', 'nums.path' = 'nums.csv', 'nums.schema' = 'id BIGINT, v BIGINT', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'fail_batch');
