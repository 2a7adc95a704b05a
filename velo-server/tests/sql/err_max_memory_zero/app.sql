CREATE STREAM out AS SELECT id, COUNT(*) AS n FROM orders GROUP BY id
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl',
      'max.memory.mb' = '0');
