CREATE STREAM out AS SELECT id, CAST(code AS BIGINT) + 1 AS next FROM codes
WITH ('codes.type' = 'file_source', 'codes.path' = 'codes.csv', 'codes.schema' = 'id BIGINT, code VARCHAR', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl', 'bad_rows.format' = 'jsonl', 'dlq.sink' = 'bad_rows',
      'failure_strategy' = 'send_to_dlq');
