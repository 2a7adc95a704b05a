-- 200000 distinct order_id groups: the state passes 1 MB and the job stops with an error.
-- HAVING keeps the output empty (every group has one record), so only the limit decides the outcome.
CREATE STREAM out AS
SELECT order_id, COUNT(*) AS n FROM gen GROUP BY order_id HAVING COUNT(*) > 1
WITH ('gen.type' = 'generator_source', 'gen.profile' = 'orders', 'gen.records' = '200000', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'max.memory.mb' = '1');
