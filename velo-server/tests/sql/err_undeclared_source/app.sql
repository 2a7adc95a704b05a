CREATE STREAM out AS
SELECT customer FROM nowhere
WITH ('out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
