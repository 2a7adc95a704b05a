-- Regression: two jobs writing one file both reported `written 3` and the file
-- held the rows of only one of them.
CREATE STREAM a AS SELECT id FROM orders;
CREATE STREAM b AS SELECT name FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'a.type' = 'file_sink', 'a.path' = 'out.jsonl',
      'b.type' = 'file_sink', 'b.path' = 'out.jsonl');
