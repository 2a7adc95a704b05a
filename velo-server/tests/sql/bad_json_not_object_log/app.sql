-- no failure_strategy: the default, log_and_continue
CREATE STREAM out AS SELECT id, name FROM people
WITH ('people.type' = 'file_source', 'people.path' = 'people.jsonl', 'people.format' = 'json', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
