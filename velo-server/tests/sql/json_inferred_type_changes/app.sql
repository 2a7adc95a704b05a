-- No schema: 'reading' is DOUBLE (integers, then a float), 'sensor' VARCHAR. Rows 4 and 5 bring strings in 'reading'
-- and row 8 a number in 'sensor': those three fail with their reason; the other five are processed (row 6's null is NULL).
CREATE STREAM out AS SELECT id, sensor, reading * 2 AS doubled FROM readings
WITH ('readings.type' = 'file_source', 'readings.path' = 'readings.jsonl', 'readings.format' = 'json',
      'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
