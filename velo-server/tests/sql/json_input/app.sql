CREATE STREAM out AS
SELECT id, name, score + 1 AS next FROM people WHERE active
WITH ('people.type' = 'file_source', 'people.path' = 'people.jsonl', 'people.format' = 'json', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
