-- rows 2 and 4 overflow in v * 2
CREATE STREAM out AS SELECT id, v * 2 AS twice FROM nums
WITH ('nums.type' = 'file_source', 'nums.path' = 'nums.csv', 'nums.schema' = 'id BIGINT, v BIGINT', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl', 'bad_rows.format' = 'jsonl', 'dlq.sink' = 'bad_rows',
      'failure_strategy' = 'send_to_dlq');
