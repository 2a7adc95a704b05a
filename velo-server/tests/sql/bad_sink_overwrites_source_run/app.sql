-- (run) The same through run: nothing is opened, the input is unchanged.
-- Regression: a sink writing its own source truncated the input while it was
-- read (about 78,000 of 100,000 rows lost, exit 0). `./` spells the same file.
CREATE STREAM copy AS SELECT id, name FROM orders
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',
      'copy.type' = 'file_sink', 'copy.path' = 'sub/../orders.csv', 'copy.format' = 'csv');
