-- the write is retried 4 times with backoff, then the job fails
CREATE STREAM out AS SELECT id, name FROM people
WITH ('people.type' = 'file_source', 'people.path' = 'people.csv',
      'out.type' = 'file_sink', 'out.path' = '/dev/full', 'out.format' = 'jsonl',
      'failure_strategy' = 'retry_with_backoff');
