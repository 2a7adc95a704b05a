-- error
SELECT a FROM t WITH ('t.type' 'file_source')
