-- SUM of eight 99999999999999999999999999.99 is 8 x 10^26 - 0.08 = 799999999999999999999999999.92 (29 digits,
-- past a 96-bit mantissa); the AVG is the value itself at scale max(2, 6) = 6
CREATE TABLE out AS
SELECT SUM(amount) AS total, AVG(amount) AS mean, COUNT(*) AS n FROM t EMIT FINAL
WITH ('t.type' = 'file_source', 't.path' = 't.csv', 't.schema' = 'id BIGINT, amount DECIMAL(38,2)', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
