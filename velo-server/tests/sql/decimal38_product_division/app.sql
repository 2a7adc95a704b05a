-- a * b is exact at scale 10 + 10 = 20 (row 1: (10^9 - 10^-10)^2 = 10^18 - 0.2 + 10^-20, 38 digits);
-- a / b is rounded half away from zero at scale max(10, 10, 6) = 10 (rows 4 and 5 are midpoints)
CREATE STREAM out AS SELECT id, a * b AS p, a / b AS q, a - b AS d FROM t
WITH ('t.type' = 'file_source', 't.path' = 't.csv', 't.schema' = 'id BIGINT, a DECIMAL(38,10), b DECIMAL(38,10)', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
