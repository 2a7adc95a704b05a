-- creating the sink is retried 4 times with backoff, then the job fails
CREATE STREAM out AS SELECT id, name FROM people
WITH ('people.type' = 'file_source', 'people.path' = 'people.csv',
      'out.type' = 'file_sink', 'out.path' = 'app.sql/out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'retry_with_backoff');
