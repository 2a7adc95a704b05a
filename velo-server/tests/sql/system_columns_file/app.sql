-- SPEC §2: the system columns on a file source. `_offset` is the record's line
-- (the blank line 3 counts), `_partition` 0, `_key` NULL, `_timestamp` the
-- ingestion time (so only compared here).
CREATE STREAM out AS
SELECT id, _offset AS line, _partition, _key, _timestamp > CAST('2024-01-01T00:00:00Z' AS TIMESTAMP) AS ingested
FROM orders
WHERE _offset <> 4
WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
