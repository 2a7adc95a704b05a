-- the sink's folder is a regular file (app.sql), so the sink cannot be created
CREATE STREAM out AS SELECT id, name FROM people
WITH ('people.type' = 'file_source', 'people.path' = 'people.csv',
      'out.type' = 'file_sink', 'out.path' = 'app.sql/out.jsonl', 'out.format' = 'jsonl');
