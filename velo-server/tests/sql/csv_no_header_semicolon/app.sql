CREATE STREAM out AS
SELECT sym, px * 10 AS px10 FROM ticks
WITH ('ticks.type' = 'file_source', 'ticks.path' = 'ticks.txt', 'ticks.format' = 'csv_no_header',
      'ticks.delimiter' = ';', 'ticks.schema' = 'sym VARCHAR, px DOUBLE', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
