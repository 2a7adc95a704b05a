-- 10 groups stay far below 64 MB: runs to the end, and no unbounded-state warning since a limit is set
CREATE STREAM out AS
SELECT symbol, COUNT(*) AS n FROM gen GROUP BY symbol
WITH ('gen.type' = 'generator_source', 'gen.profile' = 'ticks', 'gen.records' = '20', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'max.memory.mb' = '64');
