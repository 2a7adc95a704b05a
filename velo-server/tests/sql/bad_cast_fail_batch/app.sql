CREATE STREAM out AS SELECT id, CAST(code AS BIGINT) AS n FROM codes
WITH ('codes.type' = 'file_source', 'codes.path' = 'codes.csv', 'codes.schema' = 'id BIGINT, code VARCHAR', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'fail_batch');
