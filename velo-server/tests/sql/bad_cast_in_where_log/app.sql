-- row 2 fails in WHERE: counted as failed, not as filtered; row 3 is filtered
CREATE STREAM out AS SELECT id, code FROM codes WHERE CAST(code AS BIGINT) > 5
WITH ('codes.type' = 'file_source', 'codes.path' = 'codes.csv', 'codes.schema' = 'id BIGINT, code VARCHAR', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
