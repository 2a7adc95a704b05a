-- row 2 is not a number, row 5 does not fit BIGINT; row 3's empty code is NULL and casts to NULL
CREATE STREAM out AS SELECT id, CAST(code AS BIGINT) AS n FROM codes
WITH ('codes.type' = 'file_source', 'codes.path' = 'codes.csv', 'codes.schema' = 'id BIGINT, code VARCHAR', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
