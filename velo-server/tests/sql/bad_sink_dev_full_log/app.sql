-- every write to /dev/full fails with ENOSPC: an IO error of the sink is not a bad record, the job fails
CREATE STREAM out AS SELECT id, name FROM people
WITH ('people.type' = 'file_source', 'people.path' = 'people.csv',
      'out.type' = 'file_sink', 'out.path' = '/dev/full', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
