CREATE STREAM out AS SELECT id, ts FROM events
WITH ('events.type' = 'file_source', 'events.path' = 'events.jsonl', 'events.format' = 'json',
      'events.schema' = 'id BIGINT, ts TIMESTAMP', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'bad_rows.type' = 'file_sink', 'bad_rows.path' = 'dlq.jsonl', 'bad_rows.format' = 'jsonl', 'dlq.sink' = 'bad_rows',
      'failure_strategy' = 'send_to_dlq');
