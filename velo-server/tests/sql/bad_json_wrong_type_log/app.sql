-- rows 2 and 3 fail (string for DOUBLE, boolean for BIGINT); row 4's integer fits DOUBLE, row 5's nulls are NULL
CREATE STREAM out AS SELECT id, name, score FROM people
WITH ('people.type' = 'file_source', 'people.path' = 'people.jsonl', 'people.format' = 'json',
      'people.schema' = 'id BIGINT, name VARCHAR, score DOUBLE', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
