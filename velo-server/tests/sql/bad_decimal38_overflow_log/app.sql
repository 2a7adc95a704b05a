-- row 2: a * b = 10^19 x 10^19 = 10^38 needs 39 digits; row 3: a * b fits, a + b = (10^38 - 1) + 1 = 10^38 does not;
-- row 4: a has 39 digits, past DECIMAL(38,0). Each fails alone; nothing is rounded.
CREATE STREAM out AS SELECT id, a * b AS p, a + b AS s FROM t
WITH ('t.type' = 'file_source', 't.path' = 't.csv', 't.schema' = 'id BIGINT, a DECIMAL(38,0), b DECIMAL(38,0)', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'failure_strategy' = 'log_and_continue');
