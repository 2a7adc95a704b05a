CREATE STREAM out AS SELECT id, note FROM notes
WITH ('notes.type' = 'file_source', 'notes.path' = 'notes.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl',
      'failure_strategy' = 'fail_batch');
