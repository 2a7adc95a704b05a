-- The generator's `_offset` is the row's 0-based index.
SELECT _offset, _key IS NULL AS no_key FROM gen WHERE _offset < 3
WITH ('gen.type' = 'generator_source', 'gen.records' = '5');
