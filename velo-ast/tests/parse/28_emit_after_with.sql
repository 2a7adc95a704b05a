CREATE STREAM s AS
SELECT a, COUNT(*) FROM t GROUP BY a WINDOW TUMBLING(1m)
WITH ('t.type' = 'file_source', 't.path' = 'in.csv')
EMIT FINAL
