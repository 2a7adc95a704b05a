-- 29 digits in DECIMAL(29,2), 38 in DECIMAL(38,0) and DECIMAL(38,38): read, compared and written exactly
CREATE STREAM out AS SELECT id, w, x, y, x - 1 AS x_less, w > CAST('123456789012345678901234567.88' AS DECIMAL(29,2)) AS w_big FROM t
WITH ('t.type' = 'file_source', 't.path' = 't.csv', 't.schema' = 'id BIGINT, w DECIMAL(29,2), x DECIMAL(38,0), y DECIMAL(38,38)', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
