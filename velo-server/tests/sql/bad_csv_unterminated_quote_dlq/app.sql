CREATE STREAM out AS SELECT id, note FROM notes
WITH ('notes.type' = 'file_source', 'notes.path' = 'notes.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl',
      'bad.type' = 'file_sink', 'bad.path' = 'dlq.jsonl',
      'failure_strategy' = 'send_to_dlq', 'dlq.sink' = 'bad');
