-- Regression: the quote opened on line 3 is never closed; the csv parser took
-- the rest of the file into one field, and the run reported nothing (exit 0,
-- 0 failed). Now that record fails with its starting line.
CREATE STREAM out AS SELECT id, note FROM notes
WITH ('notes.type' = 'file_source', 'notes.path' = 'notes.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl',
      'failure_strategy' = 'log_and_continue');
